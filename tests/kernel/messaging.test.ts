// Request/response semantics through real componentize-js components:
// contexts, timeouts, inherit chains, blobs, send-requests, capabilities.

import { assert, assertEquals, assertExists } from "../assert.ts";
import {
  bootTestNode,
  checksum,
  eventually,
  makePackage,
  patternBlob,
  sleep,
  withTempDir,
} from "./helpers.ts";

const P = "t:test.os";
const A = `fake.dev@a:${P}`;
const B = `fake.dev@b:${P}`;
const C = `fake.dev@c:${P}`;
const PRIV = `fake.dev@priv:${P}`;

type Ev = Record<string, unknown>;

Deno.test("kernel messaging through components", async (t) => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [
        { name: "a" },
        { name: "b" },
        { name: "c" },
        { name: "priv", public: false },
        { name: "allowed", requestCapabilities: [`priv:${P}`] },
      ],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      assertEquals(await node.installPackage(dir), P);

      await t.step("first use of a component reports its transpile", async () => {
        await node.waitForPrint(/^kernel: transpiling a \d+\.\d MB component \([0-9a-f]{12}\)/);
        await node.waitForPrint(/^kernel: transpiled [0-9a-f]{12} in \d+\.\d s$/);
      });

      await t.step("our() and print-to-terminal", async () => {
        assertEquals(await node.ask(A, { op: "our" }), { our: A });
        await node.ask(A, { op: "print", level: 0, text: "hello-print" });
        await node.waitForPrint(/^t:test\.os: hello-print$/);
      });

      await t.step("send-and-await-response between two processes", async () => {
        const r = await node.ask<{ ok: Ev }>(A, {
          op: "ask",
          target: B,
          body: { op: "echo", body: "ping" },
        });
        assertEquals(r.ok.source, B);
        assertEquals(r.ok.kind, "response");
        assertEquals(JSON.parse(r.ok.body as string), { body: "ping", from: A });
      });

      await t.step("1 MB blob each way, intact", async () => {
        const r = await node.ask<{ ok: Ev; blob: { size: number; sum: number } }>(A, {
          op: "ask",
          target: B,
          body: { op: "echo" },
          blob: { size: 1 << 20, seed: 7 },
        });
        assertEquals(r.blob.size, 1 << 20);
        assertEquals(r.blob.sum, checksum(patternBlob(1 << 20, 7)));
        // and from the outside: node.request with a blob, answered with the blob
        const big = patternBlob(1 << 20, 3);
        const res = await node.request(B, JSON.stringify({ op: "echo" }), {
          blob: big,
          mime: "application/octet-stream",
        });
        assertExists(res.blob);
        assertEquals(res.blob.bytes.length, big.length);
        assertEquals(checksum(res.blob.bytes), checksum(big));
        assertEquals(res.blob.mime, "application/octet-stream");
      });

      await t.step("inherit chain through three processes answers the original asker", async () => {
        const blob = patternBlob(1 << 20, 11);
        const res = await node.request(
          A,
          JSON.stringify({
            op: "forward",
            target: B,
            next: { op: "forward", target: C, next: { op: "echo", body: "end of chain" } },
          }),
          { blob, timeoutSeconds: 10 },
        );
        assertEquals(res.source, C);
        assertEquals(JSON.parse(new TextDecoder().decode(res.body)).body, "end of chain");
        // the blob was never re-attached: each hop inherited it
        assertExists(res.blob);
        assertEquals(checksum(res.blob.bytes), checksum(blob));
      });

      await t.step("response inherit returns the request's blob", async () => {
        const blob = patternBlob(1000, 5);
        const res = await node.request(B, JSON.stringify({ op: "echo-inherit" }), { blob });
        assertEquals(JSON.parse(new TextDecoder().decode(res.body)), { inherited: true });
        assertEquals(checksum(res.blob!.bytes), checksum(blob));
      });

      await t.step("has-blob, get-blob and last-blob", async () => {
        await node.send(C, JSON.stringify({ op: "ignore" }), { blob: patternBlob(500, 1) });
        const withBlob = await node.request(C, JSON.stringify({ op: "blob-info" }), {
          blob: patternBlob(300, 2),
        });
        const w = JSON.parse(new TextDecoder().decode(withBlob.body));
        assertEquals(w.hasBlob, true);
        assertEquals(w.blob.size, 300);
        assertEquals(w.last.size, 300);
        const without = await node.ask<Ev>(C, { op: "blob-info" });
        assertEquals(without.hasBlob, false);
        assertEquals(without.blob, null);
        assertEquals((without.last as { size: number }).size, 300);
      });

      await t.step("timeout comes back with the original request and context", async () => {
        await node.ask(A, { op: "events" });
        await node.ask(A, {
          op: "send",
          target: B,
          body: { op: "ignore" },
          timeout: 1,
          context: "ctx-timeout",
          blob: { size: 64, seed: 1 },
        });
        const ev = await eventually(async () => {
          const evs = await node.ask<Ev[]>(A, { op: "events" });
          return evs.find((e) => e.event === "send-error");
        }, 5000);
        assertEquals(ev.kind, "timeout");
        assertEquals(ev.target, B);
        assertEquals(ev.context, "ctx-timeout");
        assertEquals(JSON.parse(ev.body as string), { op: "ignore" });
        assertEquals((ev.blob as { size: number }).size, 64);
      });

      await t.step("send-requests: each response carries its own context", async () => {
        await node.ask(A, { op: "events" });
        await node.ask(A, {
          op: "send-many",
          requests: [
            { target: B, body: { op: "echo", body: 1 }, timeout: 5, context: "m1" },
            { target: C, body: { op: "echo", body: 2 }, timeout: 5, context: "m2" },
          ],
        });
        const evs = await eventually(async () => {
          const got: Ev[] = [];
          const deadline = Date.now() + 3000;
          while (got.length < 2 && Date.now() < deadline) {
            got.push(
              ...(await node.ask<Ev[]>(A, { op: "events" })).filter((e) => e.event === "response"),
            );
            if (got.length < 2) await sleep(50);
          }
          return got.length === 2 ? got : undefined;
        });
        const byCtx = Object.fromEntries(evs.map((e) => [e.context, JSON.parse(e.body as string)]));
        assertEquals(byCtx.m1.body, 1);
        assertEquals(byCtx.m2.body, 2);
      });

      await t.step("a process without the messaging cap is refused", async () => {
        const r = await node.ask<Ev>(A, { op: "ask", target: PRIV, body: { op: "our" } });
        assertEquals(r.err, "timeout");
        await node.waitForPrint(/doesn't have capability to message process priv:t:test\.os/);
        const ok = await node.ask<{ ok: Ev }>(`fake.dev@allowed:${P}`, {
          op: "ask",
          target: PRIV,
          body: { op: "our" },
        });
        assertEquals(JSON.parse(ok.ok.body as string), { our: PRIV });
      });

      await t.step("dropping a messaging cap closes the direct channel", async () => {
        const ALLOWED = `fake.dev@allowed:${P}`;
        const ask = () =>
          node.ask<{ ok?: { body: string }; err?: string }>(ALLOWED, {
            op: "ask",
            target: PRIV,
            body: { op: "our" },
            timeout: 3,
          });
        // several round trips: after the first, they travel on a direct channel
        for (let i = 0; i < 3; i++) assertEquals(JSON.parse((await ask()).ok!.body), { our: PRIV });
        await node.send(
          "our@kernel:distro:sys",
          JSON.stringify({
            DropCapabilities: {
              target: `allowed:${P}`,
              capabilities: [{ issuer: PRIV, params: '"messaging"' }],
            },
          }),
        );
        const denied = await eventually(async () => {
          const r = await ask();
          return r.err ? r : undefined;
        });
        assertEquals(denied.err, "timeout");
        // and granting it back opens the way again
        await node.send(
          "our@kernel:distro:sys",
          JSON.stringify({
            GrantCapabilities: {
              target: `allowed:${P}`,
              capabilities: [{ issuer: PRIV, params: '"messaging"' }],
            },
          }),
        );
        assertEquals(JSON.parse((await ask()).ok!.body), { our: PRIV });
      });

      await t.step("a message to a process that does not exist fails fast", async () => {
        const t0 = performance.now();
        const r = await node.ask<Ev>(A, {
          op: "ask",
          target: `fake.dev@nobody:${P}`,
          body: {},
          timeout: 30,
        });
        assertEquals(r.err, "timeout");
        assert(performance.now() - t0 < 5000, "kernel should fail it at once");
        let kind = "";
        try {
          await node.request(`our@nobody:${P}`, "{}", { timeoutSeconds: 30 });
        } catch (e) {
          kind = (e as { kind: string }).kind;
        }
        assertEquals(kind, "timeout");
      });

      await t.step("capabilities cannot be forged; own caps can be issued and saved", async () => {
        const vfsWrite = {
          issuer: "fake.dev@vfs:distro:sys",
          params: JSON.stringify({ kind: "write", drive: "/other:test.os/pkg" }),
        };
        const own = { issuer: A, params: JSON.stringify({ custom: "grant" }) };
        await node.ask(B, { op: "events" });
        await node.ask(A, {
          op: "send",
          target: B,
          body: { op: "ignore" },
          caps: [vfsWrite, own],
        });
        const got = await eventually(async () => {
          const evs = await node.ask<Ev[]>(B, { op: "events" });
          return evs.find((e) => e.event === "request" && (e.body as string).includes("ignore"));
        });
        // the forged vfs cap was stripped; the cap A issues itself arrived
        assertEquals(got.caps, [own]);
        const saved = await node.ask<{ caps: { issuer: string; params: string }[] }>(B, {
          op: "save-caps",
          caps: [own, vfsWrite],
        });
        assert(saved.caps.some((c) => c.issuer === A && c.params === own.params));
        assert(!saved.caps.some((c) => c.params === vfsWrite.params), "forged cap was saved");
        const dropped = await node.ask<{ caps: { issuer: string; params: string }[] }>(B, {
          op: "drop-caps",
          caps: [own],
        });
        assert(!dropped.caps.some((c) => c.issuer === A && c.params === own.params));
      });
    } finally {
      await node.shutdown();
    }
  });
});
