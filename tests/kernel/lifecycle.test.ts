// Process lifecycle and kernel commands: spawn, on-exit (none / restart with
// crash-loop backoff / requests), KillProcess of a busy loop, Debug queries,
// capability grants, bad input, and state across reboot.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { bootTestNode, eventually, makePackage, sleep, withTempDir } from "./helpers.ts";

const P = "t:test.os";
const KERNEL = "our@kernel:distro:sys";
const addr = (p: string) => `fake.dev@${p}:${P}`;

type Caps = { caps: { issuer: string; params: string }[] };

Deno.test("process lifecycle and kernel commands", async (t) => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [
        // spawns: reads the child's wasm through vfs
        { name: "a", requestCapabilities: ["vfs:distro:sys"] },
        { name: "b" },
        { name: "r", onExit: "Restart" },
        { name: "loopy", onExit: "Restart" },
        { name: "q", onExit: "None" },
        { name: "spinner", onExit: "Restart" },
      ],
    });
    let node = await bootTestNode(`${root}/home`);
    const kernel = (cmd: unknown, timeoutSeconds = 5) =>
      node.ask<unknown>(KERNEL, cmd, timeoutSeconds);
    try {
      await node.installPackage(dir);

      await t.step("spawn: child runs, caps flow both ways, grants delivered", async () => {
        const r = await node.ask<{ spawned: string }>(addr("a"), {
          op: "spawn",
          name: "child",
          wasmPath: `/${P}/pkg/tester.wasm`,
          onExit: "None",
          grantCaps: [[`b:${P}`, '"from-child"']],
          public: false,
        });
        assertEquals(r.spawned, `child:${P}`);
        assertEquals(await node.ask(addr("child"), { op: "our" }), { our: addr("child") });
        const parentCaps = await node.ask<Caps>(addr("a"), { op: "caps" });
        assert(
          parentCaps.caps.some((c) => c.issuer === addr("child") && c.params === '"messaging"'),
        );
        const childCaps = await node.ask<Caps>(addr("child"), { op: "caps" });
        assert(childCaps.caps.some((c) => c.issuer === addr("a") && c.params === '"messaging"'));
        const bCaps = await node.ask<Caps>(addr("b"), { op: "caps" });
        assert(bCaps.caps.some((c) => c.issuer === addr("child") && c.params === '"from-child"'));
        // the parent can message its non-public child
        const viaParent = await node.ask<{ ok: { body: string } }>(addr("a"), {
          op: "ask",
          target: addr("child"),
          body: { op: "our" },
        });
        assertEquals(JSON.parse(viaParent.ok.body), { our: addr("child") });
      });

      await t.step("spawn errors: name taken, no file, path outside the package", async () => {
        const base = { op: "spawn", onExit: "None" };
        assertEquals(
          await node.ask(addr("a"), { ...base, name: "child", wasmPath: `/${P}/pkg/tester.wasm` }),
          { spawnError: "name-taken" },
        );
        assertEquals(
          await node.ask(addr("a"), { ...base, name: "x1", wasmPath: `/${P}/pkg/missing.wasm` }),
          { spawnError: "no-file-at-path" },
        );
        assertEquals(
          await node.ask(addr("a"), { ...base, name: "x2", wasmPath: "/other:test.os/pkg/t.wasm" }),
          { spawnError: "no-file-at-path" },
        );
      });

      await t.step("on-exit None: a crashed process is gone, its error printed", async () => {
        await node.send(addr("q"), JSON.stringify({ op: "crash", reason: "none-test" }));
        await node.waitForPrint(/ended with error:[\s\S]*crash requested: none-test/);
        const r = await eventually(async () => {
          const d = await kernel({ Debug: { Process: `q:${P}` } }) as {
            Debug: { Process: unknown };
          };
          return d.Debug.Process === null ? d : undefined;
        });
        assertEquals(r, { Debug: { Process: null } });
        await assertRejects(
          () => node.request(addr("q"), JSON.stringify({ op: "our" }), { timeoutSeconds: 3 }),
          (e) => (e as { kind: string }).kind === "timeout",
        );
      });

      await t.step("on-exit Requests: fired with the exited process as source", async () => {
        await node.ask(addr("b"), { op: "events" });
        await node.ask(addr("child"), {
          op: "set-on-exit",
          onExit: { Requests: [{ target: addr("b"), body: "goodbye from child" }] },
        });
        assertEquals(await node.ask(addr("child"), { op: "get-on-exit" }), {
          onExit: { Requests: [{ target: addr("b"), body: "goodbye from child" }] },
        });
        await node.send(addr("child"), JSON.stringify({ op: "crash" }));
        const ev = await eventually(async () => {
          const evs = await node.ask<Record<string, string>[]>(addr("b"), { op: "events" });
          return evs.find((e) => e.body === "goodbye from child");
        });
        assertEquals(ev.source, addr("child"));
      });

      await t.step("on-exit Restart: crashed process comes back with its state", async () => {
        const before = await node.ask<{ state: { boots: number } }>(addr("r"), { op: "boots" });
        await node.send(addr("r"), JSON.stringify({ op: "crash" }));
        const after = await eventually(async () => {
          const s = await node.ask<{ state: { boots: number } }>(addr("r"), { op: "boots" }, 2)
            .catch(() => undefined);
          return s && s.state.boots > before.state.boots ? s : undefined;
        }, 15_000);
        assertEquals(after.state.boots, before.state.boots + 1);
      });

      await t.step("crash loop backs off exponentially; KillProcess stops it", async () => {
        await node.ask(addr("loopy"), {
          op: "state-set",
          value: JSON.stringify({ boots: 100, crashOnBoot: true }),
        });
        const times: number[] = [];
        const seen = new Set<string>();
        const t0 = performance.now();
        await node.send(addr("loopy"), JSON.stringify({ op: "crash" }));
        await eventually(() => {
          for (const p of node.prints) {
            const m = p.match(/tester fake\.dev@loopy:t:test\.os boot (\d+)/);
            if (m && Number(m[1]) > 100 && !seen.has(m[1])) {
              seen.add(m[1]);
              times.push(performance.now() - t0);
            }
          }
          return times.length >= 3;
        }, 20_000);
        // the kernel schedules 2 s, then 4 s (Hyperdrive's 2^(attempt-1) s) ...
        await node.waitForPrint(/loopy:t:test\.os crashed again; restarting in 2s/);
        await node.waitForPrint(/loopy:t:test\.os crashed again; restarting in 4s/);
        // ... and never restarts sooner (start-up under load can only add time)
        const gap1 = times[1] - times[0];
        const gap2 = times[2] - times[1];
        assert(gap1 > 1900, `first backoff ${gap1} ms`);
        assert(gap2 > 3900, `second backoff ${gap2} ms`);
        assertEquals(await kernel({ KillProcess: `loopy:${P}` }), { KilledProcess: `loopy:${P}` });
        const count = seen.size;
        await sleep(1000);
        const d = await kernel({ Debug: { Process: `loopy:${P}` } });
        assertEquals(d, { Debug: { Process: null } });
        assertEquals(seen.size, count);
      });

      await t.step("KillProcess ends a process stuck in a busy loop", async () => {
        await node.send(addr("spinner"), JSON.stringify({ op: "loop" }));
        await sleep(200);
        await assertRejects(
          () => node.request(addr("spinner"), JSON.stringify({ op: "our" }), { timeoutSeconds: 1 }),
          (e) => (e as { kind: string }).kind === "timeout",
        );
        assertEquals(await kernel({ KillProcess: `spinner:${P}` }), {
          KilledProcess: `spinner:${P}`,
        });
        // killed, not restarted, despite on-exit Restart
        await sleep(1500);
        assertEquals(await kernel({ Debug: { Process: `spinner:${P}` } }), {
          Debug: { Process: null },
        });
        assertEquals(await node.ask(addr("a"), { op: "our" }), { our: addr("a") });
      });

      await t.step("Debug, GrantCapabilities, DropCapabilities, SetOnExit", async () => {
        const map = await kernel({ Debug: "ProcessMap" }) as {
          Debug: { ProcessMap: Record<string, { public: boolean; on_exit: unknown }> };
        };
        assertEquals(map.Debug.ProcessMap[`a:${P}`].public, true);
        assert(map.Debug.ProcessMap["kernel:distro:sys"]);
        const cap = { issuer: "fake.dev@b:t:test.os", params: '{"kind":"test","n":1}' };
        const has = (c: unknown) => kernel({ Debug: { HasCap: { on: `a:${P}`, cap: c } } });
        assertEquals(await has(cap), { Debug: { HasCap: false } });
        await node.send(
          KERNEL,
          JSON.stringify({ GrantCapabilities: { target: `a:${P}`, capabilities: [cap] } }),
        );
        // params compare as JSON: key order does not matter
        assertEquals(await has({ ...cap, params: '{"n":1,"kind":"test"}' }), {
          Debug: { HasCap: true },
        });
        await node.send(
          KERNEL,
          JSON.stringify({ DropCapabilities: { target: `a:${P}`, capabilities: [cap] } }),
        );
        assertEquals(await has(cap), { Debug: { HasCap: false } });
        await node.send(
          KERNEL,
          JSON.stringify({ SetOnExit: { target: `a:${P}`, on_exit: "None" } }),
        );
        const p = await kernel({ Debug: { Process: `a:${P}` } }) as {
          Debug: { Process: { on_exit: unknown } };
        };
        assertEquals(p.Debug.Process.on_exit, "None");
        // the running process keeps its own on-exit (Hyperdrive's get-on-exit reads its metadata)
        assertEquals(await node.ask(addr("a"), { op: "get-on-exit" }), { onExit: "Restart" });
        await node.send(
          KERNEL,
          JSON.stringify({ SetOnExit: { target: `a:${P}`, on_exit: "Restart" } }),
        );
      });

      await t.step("InitializeProcess with a wasm blob, then RunProcess", async () => {
        const wasm = await Deno.readFile(`${root}/home/vfs/${P}/pkg/tester.wasm`);
        const init = await node.request(
          KERNEL,
          JSON.stringify({
            InitializeProcess: {
              id: `fresh:${P}`,
              wasm_bytes_handle: `/${P}/pkg/tester.wasm`,
              wit_version: 1,
              on_exit: "Restart",
              initial_capabilities: [{ issuer: "fake.dev@b:t:test.os", params: '"messaging"' }],
              public: true,
            },
          }),
          { blob: wasm, timeoutSeconds: 30 },
        );
        assertEquals(JSON.parse(new TextDecoder().decode(init.body)), "InitializedProcess");
        const run = await node.request(KERNEL, JSON.stringify({ RunProcess: `fresh:${P}` }));
        assertEquals(JSON.parse(new TextDecoder().decode(run.body)), "StartedProcess");
        assertEquals(await node.ask(addr("fresh"), { op: "our" }), { our: addr("fresh") });
        const caps = await node.ask<Caps>(addr("fresh"), { op: "caps" });
        assert(caps.caps.some((c) => c.issuer === addr("b") && c.params === '"messaging"'));
        const missing = await node.request(KERNEL, JSON.stringify({ RunProcess: `ghost:${P}` }));
        assertEquals(JSON.parse(new TextDecoder().decode(missing.body)), "RunProcessError");
      });

      await t.step("bad input: clear errors, node keeps running", async () => {
        // malformed wasm
        const res = await node.request(
          KERNEL,
          JSON.stringify({
            InitializeProcess: {
              id: `bad:${P}`,
              wasm_bytes_handle: `/${P}/pkg/bad.wasm`,
              wit_version: 1,
              on_exit: "None",
              initial_capabilities: [],
              public: false,
            },
          }),
          { blob: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff]) },
        );
        assertEquals(JSON.parse(new TextDecoder().decode(res.body)), "InitializeProcessError");
        await node.waitForPrint(/error initializing process: malformed component/);
        // not wasm at all
        const res2 = await node.request(
          KERNEL,
          JSON.stringify({
            InitializeProcess: {
              id: `bad2:${P}`,
              wasm_bytes_handle: `/${P}/pkg/bad2.wasm`,
              wit_version: 1,
              on_exit: "None",
              initial_capabilities: [],
              public: false,
            },
          }),
          { blob: new TextEncoder().encode("not wasm") },
        );
        assertEquals(JSON.parse(new TextDecoder().decode(res2.body)), "InitializeProcessError");
        await node.waitForPrint(/bad magic bytes/);
        // bad process id
        const res3 = await node.request(
          KERNEL,
          JSON.stringify({
            InitializeProcess: {
              id: "Bad_Name:t:test.os",
              wasm_bytes_handle: "/x",
              wit_version: 1,
              on_exit: "None",
              initial_capabilities: [],
              public: false,
            },
          }),
          { blob: new Uint8Array([1]) },
        );
        assertEquals(JSON.parse(new TextDecoder().decode(res3.body)), "InitializeProcessError");
        await node.waitForPrint(/Process name \(Bad_Name\) can only contain/);
        // JSON that does not parse
        await node.send(KERNEL, "{not json");
        await node.waitForPrint(/kernel: couldn't parse command/);
        // an address that does not parse
        await assertRejects(
          () => node.request("no-at-sign", "x"),
          (e) => /Node ID missing/.test(String(e)),
        );
        await assertRejects(
          () => node.request("our@a:b", "x"),
          (e) => /Missing field/.test(String(e)),
        );
        assertEquals(await node.ask(addr("a"), { op: "our" }), { our: addr("a") });
      });

      await t.step("state and processes survive a reboot", async () => {
        await node.ask(addr("b"), { op: "state-set", value: "persist-me" });
        await node.ask(addr("a"), { op: "state-set", value: "then-cleared" });
        await node.ask(addr("a"), { op: "state-clear" });
        assertEquals(await node.ask(addr("a"), { op: "state-get" }), { state: null });
        await node.shutdown();
        node = await bootTestNode(`${root}/home`);
        assertEquals(await node.ask(addr("b"), { op: "state-get" }), { state: "persist-me" });
        // a cleared state stays cleared; init's boot counter starts over
        assertEquals(await node.ask(addr("a"), { op: "boots" }), { state: { boots: 1 } });
        // the transient (on-exit None) process was not brought back
        const d = await kernel({ Debug: { Process: `q:${P}` } });
        assertEquals(d, { Debug: { Process: null } });
      });
    } finally {
      await node.shutdown();
    }
  });
});
