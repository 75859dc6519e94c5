// net:distro:sys end to end through real booted nodes (bootNode) running real
// processes (the tester fixture as process modules, and once as a
// componentize-js component). Four nodes on loopback:
//
//   bob.os    direct, TCP only (wsPort false), a router (maxPassthroughs 4)
//   carol.os  direct, WS only (tcpPort false)
//   ivy.os    indirect, reached through bob.os
//   alice.os  direct, TCP and WS; the sender in most steps
//
// Peers are known from the `pki` boot option (each other's `node.identity`) and
// from NetAction::HnsUpdate sent to a running node with `node.send`.

import { ed25519 } from "@noble/curves/ed25519.js";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { bootNode, type BootOptions, type HnsUpdate, type HyperdenoNode } from "../../main.ts";
import { loadOrCreateNetworkingKey } from "../../net/boot.ts";
import { decodeNetResponse, encodeNetAction } from "../../net/codec.ts";
import type { Identity, NetAction, NetResponse } from "../../wire/net.ts";
import { assert, assertEquals, assertExists, assertMatch, assertRejects } from "../assert.ts";
import {
  checksum,
  eventually,
  makePackage,
  patternBlob,
  sleep,
  withTempDir,
} from "../kernel/helpers.ts";
import { bytesEqual, randomBytes } from "./helpers.ts";

const PKG = "t:test.os";
const MB5 = 5 * 1024 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

type Ev = Record<string, unknown>;

interface NetNode extends HyperdenoNode {
  prints: string[];
  /** request with a JSON command to one of this node's processes, parse the JSON answer */
  ask<T = Ev>(target: string, cmd: unknown, timeoutSeconds?: number): Promise<T>;
  /** every event a tester process has reported so far (drained from it, kept here) */
  eventsOf(target: string): Promise<Ev[]>;
}

async function bootNetNode(
  home: string,
  name: string,
  net: Pick<BootOptions, "tcpPort" | "wsPort" | "routers" | "maxPassthroughs" | "pki">,
): Promise<NetNode> {
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name,
    verbosity: 2,
    onPrint: (_level, text) => void prints.push(text),
    ...net,
  }) as NetNode;
  const seen = new Map<string, Ev[]>();
  node.prints = prints;
  node.ask = async <T>(target: string, cmd: unknown, timeoutSeconds = 10) => {
    const res = await node.request(target, JSON.stringify(cmd), { timeoutSeconds });
    return JSON.parse(dec.decode(res.body)) as T;
  };
  node.eventsOf = async (target: string) => {
    const list = seen.get(target) ?? [];
    seen.set(target, list);
    list.push(...await node.ask<Ev[]>(target, { op: "events" }));
    return list;
  };
  return node;
}

/** Polls a tester process's events until one matches. */
function waitEvent(
  node: NetNode,
  target: string,
  pred: (e: Ev) => boolean,
  timeoutMs = 10_000,
): Promise<Ev> {
  return eventually(async () => (await node.eventsOf(target)).find(pred), timeoutMs);
}

/**
 * Process `from` on `node` sends an echo request to `target` with `context` and
 * gets back the event (response or send error) carrying that context.
 */
async function sendWithContext(
  node: NetNode,
  from: string,
  target: string,
  text: string,
  context: string,
  timeout = 5,
  waitMs = 10_000,
): Promise<Ev> {
  assertEquals(
    await node.ask(from, {
      op: "send",
      target,
      body: { op: "echo", body: text },
      timeout,
      context,
    }),
    { sent: true },
  );
  return await waitEvent(node, from, (e) => e.context === context, waitMs);
}

/** A NetAction to a node's own net:distro:sys, with root authority (node.request). */
async function netAction(
  node: HyperdenoNode,
  action: NetAction,
  blob?: Uint8Array,
): Promise<{ response: NetResponse; blob?: Uint8Array }> {
  const res = await node.request("our@net:distro:sys", encodeNetAction(action), {
    blob,
    timeoutSeconds: 5,
  });
  return { response: decodeNetResponse(res.body), blob: res.blob?.bytes };
}

async function peerNames(node: HyperdenoNode): Promise<string[]> {
  const { response } = await netAction(node, { tag: "GetPeers" });
  assert(typeof response === "object" && "Peers" in response, "GetPeers answers Peers");
  return response.Peers.map((p: Identity) => p.name);
}

async function diagnostics(node: HyperdenoNode): Promise<string> {
  const { response } = await netAction(node, { tag: "GetDiagnostics" });
  assert(typeof response === "object" && "Diagnostics" in response, "answers Diagnostics");
  return response.Diagnostics;
}

/** Teach a running node a peer, as the hns-indexer does. */
async function teach(node: HyperdenoNode, peer: HnsUpdate): Promise<void> {
  await node.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update: peer }));
  await eventually(async () => {
    const { response } = await netAction(node, { tag: "GetPeer", name: peer.name });
    return typeof response === "object" && "Peer" in response && response.Peer !== null;
  }, 5000);
}

function hex(b: Uint8Array): string {
  return "0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const proc = (node: string, name = "a") => `${node}@${name}:${PKG}`;

Deno.test("net through booted nodes: TCP, WS-only, routed; contexts, 5 MB blobs, offline and back, HnsUpdate, Sign/Verify, no-networking process", async (t) => {
  await withTempDir(async (root) => {
    const pkg = await makePackage(root, {
      name: "t",
      processes: [
        { name: "a", kind: "module", requestNetworking: true },
        { name: "nonet", kind: "module" },
      ],
    });
    // the componentize-js build of the same tester (alice only)
    const compPkg = await makePackage(root, {
      name: "tc",
      processes: [{ name: "c", requestNetworking: true }],
    });

    const nodes: NetNode[] = [];
    try {
      // ivy's record is needed by its router before ivy boots: make ivy's networking
      // key in its home now (bootNode reads that same file) and derive the record.
      const ivyHome = `${root}/ivy`;
      const ivyKey = await loadOrCreateNetworkingKey(ivyHome);
      const ivyRecord: HnsUpdate = {
        name: "ivy.os",
        public_key: hex(ed25519.getPublicKey(ivyKey)),
        ips: [],
        ports: {},
        routers: ["bob.os"],
      };

      const bob = await bootNetNode(`${root}/bob`, "bob.os", {
        tcpPort: 0,
        wsPort: false,
        maxPassthroughs: 4,
        pki: [ivyRecord],
      });
      nodes.push(bob);
      let carol = await bootNetNode(`${root}/carol`, "carol.os", {
        tcpPort: false,
        wsPort: 0,
        pki: [bob.identity],
      });
      nodes.push(carol);
      const ivy = await bootNetNode(ivyHome, "ivy.os", {
        routers: ["bob.os"],
        pki: [bob.identity],
      });
      nodes.push(ivy);
      const alice = await bootNetNode(`${root}/alice`, "alice.os", {
        tcpPort: 0,
        wsPort: 0,
        pki: [bob.identity, carol.identity, ivy.identity],
      });
      nodes.push(alice);

      for (const n of nodes) assertEquals(await n.installPackage(pkg), PKG);
      assertEquals(await alice.installPackage(compPkg), "tc:test.os");
      // bob and carol were up before alice: they learn her from an HnsUpdate
      await teach(bob, alice.identity);
      await teach(carol, alice.identity);

      const A = proc("alice.os");
      const B = proc("bob.os");
      const C = proc("carol.os");
      const I = proc("ivy.os");

      await t.step("node.identity is each node's HnsUpdate record", async () => {
        const keyRe = /^0x[0-9a-f]{64}$/;
        for (const n of nodes) assertMatch(n.identity.public_key, keyRe);
        assertEquals(bob.identity.ips, ["127.0.0.1"]);
        assertEquals(Object.keys(bob.identity.ports), ["tcp"]);
        assert(bob.identity.ports.tcp > 0, "bob has a real TCP port");
        assertEquals(Object.keys(carol.identity.ports), ["ws"]);
        assert(carol.identity.ports.ws > 0, "carol has a real WS port");
        assertEquals(Object.keys(alice.identity.ports).sort(), ["tcp", "ws"]);
        assertEquals(alice.identity.routers, []);
        // the indirect node publishes no address, only its router, and uses the key in home
        assertEquals(ivy.identity, ivyRecord);
        // ivy keeps a connection to its router, which routes for it
        await eventually(async () => (await peerNames(bob)).includes("ivy.os"));
        assertMatch(await diagnostics(bob), /ivy\.os, \(routing\)/);
        await eventually(async () => (await peerNames(ivy)).includes("bob.os"));
      });

      await t.step("direct over TCP only: request/response with context both ways", async () => {
        const ev = await sendWithContext(alice, A, B, "over tcp", "ctx-tcp");
        assertEquals(ev.source, B);
        assertEquals(ev.context, "ctx-tcp");
        assertEquals(JSON.parse(ev.body as string), { body: "over tcp", from: A });
        // bob's process saw a request whose source node is alice
        const got = (await bob.eventsOf(B)).find((e) =>
          e.event === "request" && e.source === A && (e.body as string).includes("over tcp")
        );
        assertExists(got, "bob's process received alice's request");
        // and back: bob's process asks alice's (blocking send-and-await-response)
        const r = await bob.ask<{ ok: Ev }>(B, {
          op: "ask",
          target: A,
          body: { op: "echo", body: "tcp reply path" },
        });
        assertEquals(r.ok.source, A);
        assertEquals(JSON.parse(r.ok.body as string), { body: "tcp reply path", from: B });
        assert((await peerNames(alice)).includes("bob.os"), "alice has bob as a peer");
      });

      await t.step("direct over WS only: request/response with context", async () => {
        const ev = await sendWithContext(alice, A, C, "over ws", "ctx-ws");
        assertEquals(ev.event, "response");
        assertEquals(ev.source, C);
        assertEquals(JSON.parse(ev.body as string), { body: "over ws", from: A });
        const r = await carol.ask<{ ok: Ev }>(C, {
          op: "ask",
          target: A,
          body: { op: "echo", body: "ws reply path" },
        });
        assertEquals(JSON.parse(r.ok.body as string), { body: "ws reply path", from: C });
      });

      await t.step("HnsUpdate via node.send teaches a running node a peer", async () => {
        // ivy does not know alice yet: its process gets Offline at once
        const before = await ivy.ask<Ev>(I, {
          op: "ask",
          target: A,
          body: { op: "echo" },
          timeout: 5,
        });
        assertEquals(before, { err: "offline", target: A });
        assertEquals((await netAction(ivy, { tag: "GetPeer", name: "alice.os" })).response, {
          Peer: null,
        });

        // the bytes are rmp-serde's: externally tagged enum, struct as an array
        const u = alice.identity;
        const bytes = encodeNetAction({ tag: "HnsUpdate", update: u });
        assert(
          bytesEqual(
            bytes,
            msgpackEncode({ HnsUpdate: [u.name, u.public_key, u.ips, u.ports, u.routers] }),
          ),
          "codec's HnsUpdate matches an independent MessagePack encoding",
        );
        await ivy.send("our@net:distro:sys", bytes);
        const learned = await eventually(async () => {
          const { response } = await netAction(ivy, { tag: "GetPeer", name: "alice.os" });
          return typeof response === "object" && "Peer" in response ? response.Peer : undefined;
        }, 5000);
        assertEquals(learned, {
          name: "alice.os",
          networking_key: u.public_key,
          routing: { Direct: { ip: "127.0.0.1", ports: u.ports } },
        });
      });

      await t.step("indirect node through its router: request/response with context", async () => {
        // alice dials first, so the connection must go through bob's passthrough
        const ev = await sendWithContext(alice, A, I, "via router", "ctx-router", 10, 15_000);
        assertEquals(ev.event, "response");
        assertEquals(ev.source, I);
        assertEquals(JSON.parse(ev.body as string), { body: "via router", from: A });
        assertMatch(await diagnostics(bob), /active passthroughs:\s+alice\.os -> ivy\.os/);
        const r = await ivy.ask<{ ok: Ev }>(I, {
          op: "ask",
          target: A,
          body: { op: "echo", body: "routed reply path" },
        });
        assertEquals(JSON.parse(r.ok.body as string), { body: "routed reply path", from: I });
      });

      await t.step("a 5 MB blob intact to each node and back", async () => {
        const cases: [string, number][] = [[B, 1], [C, 2], [I, 3]];
        for (const [target, seed] of cases) {
          const tb = performance.now();
          const r = await alice.ask<{ ok: Ev; blob: { size: number; mime: null; sum: number } }>(
            A,
            {
              op: "ask",
              target,
              body: { op: "echo", body: `blob ${seed}` },
              timeout: 30,
              blob: { size: MB5, seed },
            },
            60,
          );
          assertEquals(r.ok.source, target);
          // the echo answers with the blob it received: same size and checksum both ways
          assertEquals(r.blob, { size: MB5, mime: null, sum: checksum(patternBlob(MB5, seed)) });
          console.log(`  5 MB each way, ${target}: ${(performance.now() - tb).toFixed(0)} ms`);
        }
        // from alice's kernel (node.request) to bob's process: byte for byte
        const big = randomBytes(MB5);
        const tk = performance.now();
        const res = await alice.request(B, JSON.stringify({ op: "echo" }), {
          blob: big,
          mime: "application/octet-stream",
          timeoutSeconds: 30,
        });
        console.log(
          `  5 MB each way, node.request to ${B}: ${(performance.now() - tk).toFixed(0)} ms`,
        );
        assertEquals(res.source, B);
        assertExists(res.blob);
        assertEquals(res.blob.mime, "application/octet-stream");
        assert(bytesEqual(res.blob.bytes, big), "5 MB blob came back byte for byte");
      });

      await t.step("a componentize-js component round trip across nodes", async () => {
        const CC = `alice.os@c:tc:test.os`;
        const r = await alice.ask<{ ok: Ev }>(CC, {
          op: "ask",
          target: B,
          body: { op: "echo", body: "from a component" },
        });
        assertEquals(r.ok.source, B);
        assertEquals(JSON.parse(r.ok.body as string), { body: "from a component", from: CC });
        const ev = await sendWithContext(alice, CC, C, "component ctx", "ctx-component");
        assertEquals(ev.event, "response");
        assertEquals(JSON.parse(ev.body as string), { body: "component ctx", from: CC });
        // and a remote process asking the component
        const back = await bob.ask<{ ok: Ev }>(B, {
          op: "ask",
          target: CC,
          body: { op: "echo", body: "to a component" },
        });
        assertEquals(JSON.parse(back.ok.body as string), { body: "to a component", from: B });
      });

      await t.step("NetAction Sign / Verify through node.request", async () => {
        const data = enc.encode("sign me, alice");
        const signed = await netAction(alice, { tag: "Sign" }, data);
        assertEquals(signed.response, "Signed");
        assertExists(signed.blob);
        assertEquals(signed.blob.length, 64);
        // what was signed: the requester's address string, then the blob
        const signer = "alice.os@kernel:distro:sys";
        const message = new Uint8Array([...enc.encode(signer), ...data]);
        const pub = ed25519.getPublicKey(await loadOrCreateNetworkingKey(`${root}/alice`));
        assertEquals(hex(pub), alice.identity.public_key);
        assert(ed25519.verify(signed.blob, message, pub), "independently verified");

        const from = {
          node: "alice.os",
          process: { processName: "kernel", packageName: "distro", publisherNode: "sys" },
        };
        // bob checks it against alice's key from his PKI
        const ok = await netAction(bob, { tag: "Verify", from, signature: signed.blob }, data);
        assertEquals(ok.response, { Verified: true });
        const tampered = await netAction(
          bob,
          { tag: "Verify", from, signature: signed.blob },
          enc.encode("sign me, alicE"),
        );
        assertEquals(tampered.response, { Verified: false });
        // claimed to be from bob's kernel: checked against bob's key, fails
        const wrongFrom = await netAction(
          bob,
          { tag: "Verify", from: { ...from, node: "bob.os" }, signature: signed.blob },
          data,
        );
        assertEquals(wrongFrom.response, { Verified: false });
      });

      await t.step(
        "a malformed NetAction is ignored (as Hyperdrive) and net keeps serving",
        async () => {
          // NetResponse has no error variant: Hyperdrive answers nothing, so the asker times out
          await assertRejects(
            () =>
              alice.request("our@net:distro:sys", new Uint8Array([0xc1, 0xff, 0x00]), {
                timeoutSeconds: 1,
              }),
            (e) => (e as { kind?: string }).kind === "timeout",
          );
          const peers = (await netAction(alice, { tag: "GetPeers" })).response;
          assert(
            typeof peers === "object" && "Peers" in peers,
            `GetPeers: ${JSON.stringify(peers)}`,
          );
        },
      );

      await t.step("a remote non-NetAction body to net is a printed, acked hello", async () => {
        const res = await alice.request("bob.os@net:distro:sys", "hello from alice");
        assertEquals(res.source, "bob.os@net:distro:sys");
        assertEquals(dec.decode(res.body), "ack");
        assert(
          bob.prints.some((p) => p.includes("alice.os: hello from alice")),
          "bob printed the hello",
        );
      });

      await t.step("a process without request_networking cannot reach another node", async () => {
        const N = proc("alice.os", "nonet");
        const t0 = performance.now();
        const r = await alice.ask<Ev>(N, {
          op: "ask",
          target: B,
          body: { op: "echo", body: "from-nonet" },
          timeout: 5,
        });
        // refused by the kernel at once, not after waiting 5 s
        assert(performance.now() - t0 < 3000, "refused immediately");
        assertEquals(r, { err: "timeout", target: B });
        const ev = await sendWithContext(alice, N, B, "from-nonet", "ctx-nonet");
        assertEquals(ev.kind, "timeout");
        assertEquals(ev.target, B);
        assertEquals(ev.context, "ctx-nonet");
        assert(
          alice.prints.some((p) =>
            p.includes(
              "process nonet:t:test.os doesn't have capability to send networked messages",
            )
          ),
          "the kernel printed the missing capability",
        );
        // nothing reached bob: a later message from a networked process arrives, these did not
        await alice.ask(A, { op: "ask", target: B, body: { op: "echo", body: "after nonet" } });
        const bobEvents = await bob.eventsOf(B);
        assert(bobEvents.some((e) => (e.body as string)?.includes("after nonet")), "marker");
        assert(
          !bobEvents.some((e) => (e.body as string)?.includes("from-nonet")),
          "no message from the process without networking reached bob",
        );
      });

      await t.step(
        "a peer killed mid-run is Offline; rebooted on the same home and port, reachable again",
        async () => {
          const carolIdentity = carol.identity;
          await carol.shutdown();
          // alice notices the closed connection
          await eventually(async () => !(await peerNames(alice)).includes("carol.os"));

          const t0 = performance.now();
          const ev = await sendWithContext(alice, A, C, "to the dead", "ctx-offline");
          const offlineMs = performance.now() - t0;
          assertEquals(ev.event, "send-error");
          assertEquals(ev.kind, "offline");
          assertEquals(ev.target, C);
          assertEquals(JSON.parse(ev.body as string), { op: "echo", body: "to the dead" });
          console.log(`  offline reported to the process after ${offlineMs.toFixed(0)} ms`);
          // from the node API too
          const err = await assertRejects(
            () => alice.request(C, JSON.stringify({ op: "echo" }), { timeoutSeconds: 5 }),
          );
          assertEquals((err as { kind?: string }).kind, "offline");

          carol = await bootNetNode(`${root}/carol`, "carol.os", {
            tcpPort: false,
            wsPort: carolIdentity.ports.ws,
            pki: [bob.identity, alice.identity],
          });
          nodes.push(carol);
          // same key from home, same port: the record alice holds is still right
          assertEquals(carol.identity, carolIdentity);
          // carol's process is restarted from the persisted process map (its second boot)
          const t1 = performance.now();
          await eventually(
            () => carol.prints.some((p) => p.includes(`tester ${C} boot 2`)),
            15_000,
          );
          const processMs = performance.now() - t1;
          // no retry: alice dials carol's WS port afresh and the first request gets through
          const t2 = performance.now();
          const r = await alice.ask<{ ok: Ev }>(A, {
            op: "ask",
            target: C,
            body: { op: "echo", body: "welcome back" },
            timeout: 5,
          });
          console.log(
            `  after reboot: process up in ${processMs.toFixed(0)} ms, then a round trip ` +
              `(new connection) in ${(performance.now() - t2).toFixed(0)} ms`,
          );
          assertExists(r.ok, `carol answers again: ${JSON.stringify(r)}`);
          assertEquals(r.ok.source, C);
          assertEquals(JSON.parse(r.ok.body as string), { body: "welcome back", from: A });
          const again = await sendWithContext(alice, A, C, "ctx again", "ctx-back");
          assertEquals(again.event, "response");
          // exactly one error came for the offline request: no Timeout as well once its
          // 5 s expects-response has passed
          const wait = 5500 - (performance.now() - t0);
          if (wait > 0) await sleep(wait);
          const errs = (await alice.eventsOf(A)).filter((e) => e.context === "ctx-offline");
          assertEquals(errs.length, 1);
        },
      );
    } finally {
      await Promise.allSettled(nodes.map((n) => n.shutdown()));
    }
  });
});

// Regression: worker.terminate() does not wake a worker parked in Atomics.wait,
// so idle process threads used to outlive node.shutdown() and embedders of
// bootNode hung. The host now raises a stop flag in the shared signal. This
// also checks that nothing of net's (sockets, timers) keeps the process alive.
Deno.test({
  name: "after shutdown, two nodes that exchanged messages let the Deno process exit",
  async fn() {
    await withTempDir(async (root) => {
      const url = (p: string) => new URL(p, import.meta.url).href;
      const code = `
        import { bootNode } from ${JSON.stringify(url("../../main.ts"))};
        import { encodeNetAction } from ${JSON.stringify(url("../../net/codec.ts"))};
        import { makePackage } from ${JSON.stringify(url("../kernel/helpers.ts"))};
        const root = Deno.env.get("NODES_ROOT");
        const q = { verbosity: 0, onPrint: () => {} };
        const bob = await bootNode({ home: root + "/bob", name: "bob.os", tcpPort: 0, wsPort: false, ...q });
        const alice = await bootNode({
          home: root + "/alice", name: "alice.os", tcpPort: 0, wsPort: 0, pki: [bob.identity], ...q,
        });
        await bob.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update: alice.identity }));
        const pkg = await makePackage(root, {
          name: "t", processes: [{ name: "a", kind: "module", requestNetworking: true }],
        });
        await bob.installPackage(pkg);
        await alice.installPackage(pkg);
        const res = await alice.request("our@a:t:test.os", JSON.stringify({
          op: "ask", target: "bob.os@a:t:test.os", body: { op: "echo", body: "x" },
        }), { timeoutSeconds: 20 });
        console.log(JSON.parse(new TextDecoder().decode(res.body)).ok ? "round trip ok" : "no");
        await alice.shutdown();
        await bob.shutdown();
        console.log("down");
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--unstable-kv",
          "--unstable-worker-options",
          "--config",
          new URL("../../deno.json", import.meta.url).pathname,
          code,
        ],
        env: { NODES_ROOT: root },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exitedInTime = await Promise.race([
        child.status.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 45_000))),
      ]);
      clearTimeout(timer);
      if (!exitedInTime) child.kill("SIGKILL");
      const out = await child.output().catch(() => undefined);
      const stdout = out ? dec.decode(out.stdout) : "";
      assertMatch(stdout, /round trip ok\s+down/);
      assert(exitedInTime, `the process did not exit after shutdown; stdout: ${stdout}`);
    });
  },
});
