// Process-host and kernel behaviours pinned to Hyperdrive's code
// (hyperdrive/src/kernel/{mod,process,standard_host_v1}.rs, state.rs and
// app-store's install), through real processes: the tester fixture as a
// process module.

import { assert, assertEquals } from "../assert.ts";
import {
  bootTestNode,
  checksum,
  eventually,
  makePackage,
  patternBlob,
  withTempDir,
  writeKitPackage,
} from "./helpers.ts";

const P = "t:test.os";
const addr = (p: string) => `fake.dev@${p}:${P}`;

type BlobInfo = { size: number; mime: string | null; sum: number } | null;
type BlobReport = { result: unknown; hasBlob: boolean; blob: BlobInfo; last: BlobInfo };

Deno.test("has-blob after get-state, set-state, clear-state and spawn (send-and-await inside)", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      // spawn reads the wasm through vfs as the process
      processes: [{ name: "a", kind: "module", requestCapabilities: ["vfs:distro:sys"] }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const blob = patternBlob(100, 9);
      const sum = checksum(blob);
      const after = async (cmd: Record<string, unknown>) => {
        const res = await node.request(addr("a"), JSON.stringify({ op: "blob-after", ...cmd }), {
          blob,
          timeoutSeconds: 10,
        });
        return JSON.parse(new TextDecoder().decode(res.body)) as BlobReport;
      };
      const requestBlob = { size: 100, mime: null, sum };

      // set-state: its (blob-less) response is the last message: no blob;
      // last-blob is restored to the request's
      const set = await after({ action: "state-set", value: "kept" });
      assertEquals([set.hasBlob, set.blob, set.last], [false, null, requestBlob]);

      // get-state of a saved state: the state's response had a blob, so
      // has-blob is true, and get-blob returns the restored last blob
      const got = await after({ action: "state-get" });
      assertEquals(got.result, "kept");
      assertEquals([got.hasBlob, got.blob, got.last], [true, requestBlob, requestBlob]);

      const cleared = await after({ action: "state-clear" });
      assertEquals([cleared.hasBlob, cleared.blob, cleared.last], [false, null, requestBlob]);

      // no state: the state module's error response has no blob
      const none = await after({ action: "state-get" });
      assertEquals(none.result, null);
      assertEquals([none.hasBlob, none.blob, none.last], [false, null, requestBlob]);

      // spawn: its last awaited responses (kernel's) carry no blob
      const failed = await after({ action: "spawn", name: "x", wasmPath: `/${P}/pkg/none.js` });
      assertEquals(failed.result, { spawnError: "no-file-at-path" });
      assertEquals([failed.hasBlob, failed.blob, failed.last], [false, null, requestBlob]);
      const spawned = await after({
        action: "spawn",
        name: "kid",
        wasmPath: `/${P}/pkg/tester.js`,
      });
      assertEquals(spawned.result, { spawned: `kid:${P}` });
      assertEquals([spawned.hasBlob, spawned.blob, spawned.last], [false, null, requestBlob]);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("KernelCommand SetOnExit changes the process map only; a running process keeps its own on-exit", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [
        { name: "q", kind: "module", onExit: "None" },
        { name: "r", kind: "module", onExit: "Restart" },
      ],
    });
    const node = await bootTestNode(`${root}/home`);
    const KERNEL = "our@kernel:distro:sys";
    const debugOnExit = async (p: string) => {
      const d = await node.ask<{ Debug: { Process: { on_exit: unknown } | null } }>(KERNEL, {
        Debug: { Process: `${p}:${P}` },
      });
      return d.Debug.Process?.on_exit ?? null;
    };
    try {
      await node.installPackage(dir);
      await node.send(
        KERNEL,
        JSON.stringify({ SetOnExit: { target: `q:${P}`, on_exit: "Restart" } }),
      );
      await node.send(KERNEL, JSON.stringify({ SetOnExit: { target: `r:${P}`, on_exit: "None" } }));
      assertEquals(await debugOnExit("q"), "Restart");
      assertEquals(await debugOnExit("r"), "None");
      // get-on-exit reads the process's own metadata
      assertEquals(await node.ask(addr("q"), { op: "get-on-exit" }), { onExit: "None" });
      assertEquals(await node.ask(addr("r"), { op: "get-on-exit" }), { onExit: "Restart" });

      // q exits with its own None: killed, not restarted
      await node.send(addr("q"), JSON.stringify({ op: "crash", reason: "q-exit" }));
      await eventually(async () => (await debugOnExit("q")) === null ? true : undefined);
      await node.waitForPrint(/^process q:t:test\.os has OnExit behavior None$/);
      // r exits with its own Restart: restarted, and the map says Restart again
      await node.send(addr("r"), JSON.stringify({ op: "crash", reason: "r-exit" }));
      await node.waitForPrint(/tester fake\.dev@r:t:test\.os boot 2/);
      assertEquals(await node.ask(addr("r"), { op: "get-on-exit" }), { onExit: "Restart" });
      assertEquals(await debugOnExit("r"), "Restart");
      assert(!node.prints.some((p) => /tester fake\.dev@q:t:test\.os boot 2/.test(p)));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("on-exit Requests persisted at shutdown fire at boot, only to targets the dead process may message", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [
        // installed (and so reloaded) before their target
        { name: "a", kind: "module", requestCapabilities: [`z:${P}`] },
        { name: "b", kind: "module" },
        { name: "z", kind: "module", public: true },
      ],
    });
    let node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      for (const p of ["a", "b"]) {
        await node.ask(addr(p), {
          op: "set-on-exit",
          onExit: { Requests: [{ target: addr("z"), body: `from-${p}` }] },
        });
      }
      await node.shutdown();
      node = await bootTestNode(`${root}/home`);
      const seen = await eventually(async () => {
        const evs = await node.ask<{ body: string; source: string }[]>(addr("z"), {
          op: "events",
        });
        return evs.find((e) => e.body === "from-a");
      });
      assertEquals(seen.source, addr("a"));
      // b holds no messaging cap for z: Hyperdrive's boot does not fire it, public or not
      await new Promise((r) => setTimeout(r, 300));
      const later = await node.ask<{ body: string }[]>(addr("z"), { op: "events" });
      assert(!later.some((e) => e.body === "from-b"), JSON.stringify(later));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("a response arriving after its timeout expired is dropped, even if the process was busy", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [{ name: "a", kind: "module" }, { name: "b", kind: "module" }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      // a asks b with a 1 s timeout, then computes for 2.5 s; b answers after
      // 1.5 s. Hyperdrive's timer fires into the inbox at 1 s, ahead of the
      // answer: a sees the timeout and the late answer is dropped.
      await node.ask(addr("a"), {
        op: "send",
        target: addr("b"),
        body: { op: "echo", body: "late", delayMs: 1500 },
        timeout: 1,
        context: "slow",
        busyMs: 2500,
      });
      const events: Record<string, unknown>[] = [];
      const err = await eventually(async () => {
        events.push(...await node.ask<Record<string, unknown>[]>(addr("a"), { op: "events" }));
        return events.find((e) => e.event === "send-error");
      });
      assertEquals([err.kind, err.context], ["timeout", "slow"]);
      await new Promise((r) => setTimeout(r, 500));
      events.push(...await node.ask<Record<string, unknown>[]>(addr("a"), { op: "events" }));
      assert(!events.some((e) => e.event === "response"), JSON.stringify(events));

      // the other order: the answer reached the inbox before the timer fired,
      // so it wins though a reads it only after its deadline
      await node.ask(addr("a"), {
        op: "send",
        target: addr("b"),
        body: { op: "echo", body: "prompt" },
        timeout: 1,
        context: "fast",
        busyMs: 2000,
      });
      const more: Record<string, unknown>[] = [];
      const res = await eventually(async () => {
        more.push(...await node.ask<Record<string, unknown>[]>(addr("a"), { op: "events" }));
        return more.find((e) => e.event === "response");
      });
      assertEquals(res.context, "fast");
      await new Promise((r) => setTimeout(r, 300));
      more.push(...await node.ask<Record<string, unknown>[]>(addr("a"), { op: "events" }));
      assert(!more.some((e) => e.event === "send-error"), JSON.stringify(more));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("spawn reads the wasm as the parent through vfs: any drive it may read, given it may message vfs", async () => {
  await withTempDir(async (root) => {
    const other = await makePackage(root, {
      name: "o",
      processes: [{ name: "x", kind: "module" }],
    });
    const dir = await makePackage(root, {
      name: "t",
      processes: [
        {
          name: "a",
          kind: "module",
          requestCapabilities: [
            "vfs:distro:sys",
            { process: "vfs:distro:sys", params: { kind: "read", drive: "/o:test.os/pkg" } },
          ],
        },
        { name: "b", kind: "module", requestCapabilities: ["vfs:distro:sys"] },
        { name: "c", kind: "module" },
      ],
    });
    const node = await bootTestNode(`${root}/home`);
    const KERNEL = "our@kernel:distro:sys";
    try {
      await node.installPackage(other);
      await node.installPackage(dir);
      const spawn = (p: string, name: string, wasmPath: string) =>
        node.ask(addr(p), { op: "spawn", name, wasmPath, onExit: "None", public: true });
      const foreign = "/o:test.os/pkg/tester.js";

      // a holds a read cap for o's pkg drive: the child is a's package's
      assertEquals(await spawn("a", "kid", foreign), { spawned: `kid:${P}` });
      assertEquals(await node.ask(addr("kid"), { op: "our" }), { our: addr("kid") });
      const d = await node.ask<{ Debug: { Process: Record<string, unknown> } }>(KERNEL, {
        Debug: { Process: `kid:${P}` },
      });
      // the handle as the parent gave it, and the parent's wit version
      assertEquals([d.Debug.Process.wasm_bytes_handle, d.Debug.Process.wit_version], [
        foreign,
        1,
      ]);

      // b may message vfs but not read o's drive (vfs answers NoReadCap)
      assertEquals(await spawn("b", "kid2", foreign), { spawnError: "no-file-at-path" });
      assertEquals(await spawn("b", "kid3", `/${P}/pkg/tester.js`), { spawned: `kid3:${P}` });

      // c may not message vfs at all: its read never reaches vfs
      assertEquals(await spawn("c", "kid4", `/${P}/pkg/tester.js`), {
        spawnError: "no-file-at-path",
      });
      await node.waitForPrint(
        /process c:t:test\.os doesn't have capability to message process vfs/,
      );
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("installPackage reads the manifest as app-store's install: serde's params text, bad entries skipped", async () => {
  await withTempDir(async (root) => {
    const B = `b:${P}`;
    const entry = (name: string, request: unknown[], grant: unknown[]) => ({
      process_name: name,
      process_wasm_path: "/tester.js",
      on_exit: "Restart",
      request_networking: false,
      request_capabilities: request,
      grant_capabilities: grant,
      public: true,
    });
    const dir = await writeKitPackage(root, {
      name: "t",
      manifest: [
        entry(
          "a",
          [B, { process: B, params: { z: 1, a: { y: 2, x: 3 } } }, "not-a-process-id", 42, {
            process: B,
          }],
          ["bad-id", { process: B, params: { k: 2, c: 1 } }, { process: 7, params: 1 }],
        ),
        entry("b", [], []),
      ],
      files: { "tester.js": new URL("../fixtures/tester.js", import.meta.url) },
    });
    // a metadata.json without wit_version (an Option in Hyperdrive)
    const metaPath = `${dir}/metadata.json`;
    const meta = JSON.parse(await Deno.readTextFile(metaPath));
    delete meta.properties.wit_version;
    await Deno.writeTextFile(metaPath, JSON.stringify(meta));
    const node = await bootTestNode(`${root}/home`);
    try {
      assertEquals(await node.installPackage(dir), P);
      type Caps = { caps: { issuer: string; params: string }[] };
      const aCaps = (await node.ask<Caps>(addr("a"), { op: "caps" })).caps;
      const text = (issuer: string) =>
        aCaps.filter((c) => c.issuer === issuer).map((c) => c.params).sort();
      // params as serde_json writes a Value: compact, keys sorted
      assertEquals(text(addr("b")), ['"messaging"', '{"a":{"x":3,"y":2},"z":1}']);
      assertEquals(text("fake.dev@vfs:distro:sys"), [
        '{"drive":"/t:test.os/pkg","kind":"read"}',
        '{"drive":"/t:test.os/pkg","kind":"write"}',
      ]);
      const bCaps = (await node.ask<Caps>(addr("b"), { op: "caps" })).caps;
      assertEquals(bCaps.filter((c) => c.issuer === addr("a")).map((c) => c.params), [
        '{"c":1,"k":2}',
      ]);
      const d = await node.ask<{ Debug: { Process: { wit_version: unknown } } }>(
        "our@kernel:distro:sys",
        { Debug: { Process: `a:${P}` } },
      );
      assertEquals(d.Debug.Process.wit_version, null);
      await node.waitForPrint(/manifest requested invalid cap: "not-a-process-id"/);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("on-exit Requests carry only capabilities the dead process could attach", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [{ name: "a", kind: "module", onExit: "None" }, { name: "b", kind: "module" }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const root_ = { issuer: "fake.dev@vfs:distro:sys", params: '{"root":true}' };
      const own = { issuer: addr("a"), params: '"from-a"' };
      await node.ask(addr("a"), {
        op: "set-on-exit",
        onExit: { Requests: [{ target: addr("b"), body: "bye", caps: [root_, own] }] },
      });
      await node.send(addr("a"), JSON.stringify({ op: "crash", reason: "on-exit caps" }));
      const ev = await eventually(async () => {
        const evs = await node.ask<{ body: string; caps: unknown[] }[]>(addr("b"), {
          op: "events",
        });
        return evs.find((e) => e.body === "bye");
      });
      // as if the process had sent it: a cap it issues itself, nothing it never held
      assertEquals(ev.caps, [own]);
      const saved = await node.ask<{ caps: { params: string }[] }>(addr("b"), {
        op: "save-caps",
        caps: [root_],
      });
      assert(!saved.caps.some((c) => c.params === root_.params), "vfs root was minted");
    } finally {
      await node.shutdown();
    }
  });
});
