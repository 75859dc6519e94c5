// Malformed input everywhere: a deterministic stream of mutated, truncated and
// type-confused bodies (with and without blobs) to the kernel and every
// runtime module, with root authority. Afterwards every one of them still
// answers a valid request, and nothing threw out of a handler (an uncaught
// error would fail the test).

import { assert, assertEquals } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { withTempDir } from "./helpers.ts";

const enc = new TextEncoder();

/** Valid bodies per target, to mutate and to check the target afterwards. */
const VALID: Record<string, unknown[]> = {
  "kernel:distro:sys": [{ Debug: "ProcessMap" }, { Debug: { Process: "a:b:c" } }],
  "vfs:distro:sys": [{ path: "/fuzz:test.os/pkg", action: "ReadDir" }],
  "kv:distro:sys": [{
    package_id: { package_name: "fuzz", publisher_node: "test.os" },
    db: "f",
    action: "Open",
  }],
  "sqlite:distro:sys": [{
    package_id: { package_name: "fuzz", publisher_node: "test.os" },
    db: "f",
    action: "Open",
  }],
  "state:distro:sys": [{ GetState: "a:b:c" }],
  "timer:distro:sys": [{ SetTimer: 1 }],
  "http-server:distro:sys": [{ Unbind: { path: "/nothing" } }],
  "http-client:distro:sys": [{ WebSocketClose: { channel_id: 7 } }],
};

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(rand: () => number, valid: unknown): Uint8Array {
  const text = JSON.stringify(valid);
  switch (Math.floor(rand() * 7)) {
    case 0: // random bytes
      return crypto.getRandomValues(new Uint8Array(Math.floor(rand() * 64)));
    case 1: // truncated JSON
      return enc.encode(text.slice(0, Math.floor(rand() * text.length)));
    case 2: { // one byte flipped
      const b = enc.encode(text);
      b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      return b;
    }
    case 3: // wrong JSON types
      return enc.encode(
        JSON.stringify([null, 1, "x", [], {}, true, { [text]: 1 }][Math.floor(rand() * 7)]),
      );
    case 4: // fields replaced by wrong types
      return enc.encode(text.replace(/"[a-z_]+":/g, (k) => (rand() < 0.5 ? `${k}[` : k)));
    case 5: // huge numbers and negative ids
      return enc.encode(text.replace(/\d+/g, () => (rand() < 0.5 ? "-1" : "18446744073709551616")));
    default: // empty
      return new Uint8Array();
  }
}

Deno.test("malformed input to the kernel and every module: all keep serving", async () => {
  await withTempDir(async (home) => {
    const prints: string[] = [];
    const node = await bootNode({
      home,
      onPrint: (_l, t) => prints.push(t),
      tcpPort: 0,
      wsPort: false,
      httpPort: 0,
    });
    try {
      const rand = rng(20261121);
      const targets = Object.keys(VALID);
      let sent = 0;
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 400; i++) {
        const target = targets[i % targets.length];
        const body = mutate(rand, VALID[target][Math.floor(rand() * VALID[target].length)]);
        const blob = rand() < 0.3 ? crypto.getRandomValues(new Uint8Array(100)) : undefined;
        // a request that expects an answer, or fire-and-forget; either must not hurt
        if (rand() < 0.5) await node.send(`our@${target}`, body, { blob });
        else {
          pending.push(
            node.request(`our@${target}`, body, { blob, timeoutSeconds: 1 }).catch(() => {}),
          );
        }
        sent++;
      }
      await Promise.all(pending);
      // garbage to net as well (NetActions are MessagePack)
      for (let i = 0; i < 50; i++) {
        await node.send("our@net:distro:sys", mutate(rand, "GetPeers"));
      }
      assertEquals(sent, 400);

      // a handler that threw (instead of answering with an error) is printed by the
      // kernel as "<module>: <error>"; there must be none
      const thrown = prints.filter((p) => /^[a-z-]+:distro:sys: /.test(p));
      assertEquals(thrown, []);
      // every target still answers a valid request
      for (const target of targets) {
        if (target === "http-client:distro:sys") continue; // answers only errors for this body
        const res = await node.request(`our@${target}`, JSON.stringify(VALID[target][0]), {
          timeoutSeconds: 5,
        });
        assert(res.body.length > 0 || target === "timer:distro:sys", `${target} answered`);
      }
      const peers = await node.request("our@net:distro:sys", encodeNetAction({ tag: "GetPeers" }));
      assert(peers.body.length > 0, "net answered");
      // and HTTP is still served
      const our = await fetch(`${node.httpUrl}/our`);
      assertEquals(await our.text(), "fake.dev");
    } finally {
      await node.shutdown();
    }
  });
});
