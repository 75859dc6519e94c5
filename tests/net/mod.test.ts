// net:distro:sys end to end: several module instances on loopback, each inside a
// small stand-in kernel (harness.ts). Real sockets; every test closes everything.

import {
  decodeNetResponse,
  encodeHandshakePayload,
  encodeKernelMessage,
  encodeNetAction,
} from "../../net/codec.ts";
import {
  initiateHandshake,
  type LocalNode,
  networkingPublicKey,
  signWithNetworkingKey,
} from "../../net/handshake.ts";
import { MESSAGE_PREFIX } from "../../net/link.ts";
import { HandshakeState } from "../../net/noise.ts";
import { connectTcp } from "../../net/tcp.ts";
import {
  identityFromHnsUpdate,
  type NetAction,
  netKeyToHex,
  type NetResponse,
} from "../../wire/net.ts";
import { addressToString, parseAddress } from "../../wire/core.ts";
import { TestNode } from "./harness.ts";
import {
  assert,
  assertEq,
  bytesEqual,
  concatBytes,
  patternBlob,
  RawReader,
  seedFor,
  testKm,
  u16be,
  u32be,
  waitFor,
  writeAll,
} from "./helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const fast = { timeoutMs: 2000, routerRetryMs: 100, listenHostname: "127.0.0.1" };

/** A node named `<label>.os` with its deterministic key and fast timeouts. */
function testNode(
  label: string,
  opts: Omit<ConstructorParameters<typeof TestNode>[1], "networkingKey"> = {},
): TestNode {
  return new TestNode(`${label}.os`, { networkingKey: seedFor(label), ...fast, ...opts });
}

/** Every node learns every node's record (as the hns-indexer would tell it). */
function sharePki(nodes: TestNode[]) {
  for (const n of nodes) for (const m of nodes) if (m !== n) n.module.ingest(m.identity);
}

/** Give every node an echo process and start them in order. */
async function startWithEcho(nodes: TestNode[]) {
  for (const n of nodes) {
    n.echo();
    await n.start();
  }
}

/** Wait until the indirect node `hidden.os` holds its connection to `router`. */
function hiddenConnected(router: TestNode): Promise<void> {
  return waitFor(
    () => router.module.peerNames().includes("hidden.os"),
    3000,
    "hidden connects to router",
  );
}

async function shutdownAll(nodes: TestNode[]) {
  await Promise.all(nodes.map((n) => n.shutdown()));
}

function responseBody(node: TestNode, id: bigint): string | undefined {
  const d = node.responseTo(id);
  if (!d || d.km.message.tag !== "response") return undefined;
  return dec(d.km.message.val[0].body);
}

/** Ask our own net:distro:sys something, as a local process would. */
async function netRequest(
  node: TestNode,
  action: NetAction,
  blob?: Uint8Array,
): Promise<{ response: NetResponse; blob?: Uint8Array }> {
  const id = node.request("app:test:sys", `${node.our}@net:distro:sys`, encodeNetAction(action), {
    blob,
  });
  await waitFor(
    () => node.responseTo(id) !== undefined,
    3000,
    `net answers ${JSON.stringify(action)}`,
  );
  const km = node.responseTo(id)!.km;
  if (km.message.tag !== "response") throw new Error("not a response");
  return { response: decodeNetResponse(km.message.val[0].body), blob: km.lazyLoadBlob?.bytes };
}

Deno.test("net: direct over TCP, direct over WS only, and an indirect node through a router", async () => {
  const router = testNode("router", { tcpPort: 0, wsPort: 0, maxPassthroughs: 4 });
  const alice = testNode("alice", { tcpPort: 0, wsPort: 0 });
  const wsOnly = testNode("ws-only", { tcpPort: false, wsPort: 0 });
  const hidden = testNode("hidden", { routers: ["router.os"] });
  const nodes = [router, alice, wsOnly, hidden];
  try {
    assertEq(
      JSON.stringify(wsOnly.identity.ports),
      JSON.stringify({ ws: wsOnly.identity.ports.ws }),
      "ws-only publishes ws",
    );
    assertEq(hidden.identity.ips.length, 0, "indirect node publishes no ip");
    assertEq(
      JSON.stringify(hidden.identity.routers),
      '["router.os"]',
      "indirect node publishes its router",
    );
    sharePki(nodes);
    await startWithEcho(nodes);
    // the indirect node keeps a connection to its router
    await hiddenConnected(router);

    // alice -> ws-only (only reachable over WS), round trip with context
    const ctx1 = enc("ctx-ws");
    const id1 = alice.request("app:test:sys", "ws-only.os@echo:test:sys", enc("hi ws"), {
      context: ctx1,
    });
    await waitFor(() => alice.responseTo(id1) !== undefined, 5000, "response from ws-only");
    assertEq(responseBody(alice, id1), "echo:hi ws", "ws round trip body");
    assert(bytesEqual(alice.responseTo(id1)!.context!, ctx1), "context kept across the round trip");
    const req = wsOnly.delivered.find((d) => d.km.id === id1)!.km;
    assertEq(addressToString(req.source), "alice.os@app:test:sys", "source as sent");

    // alice -> router over TCP
    const id2 = alice.request("app:test:sys", "router.os@echo:test:sys", enc("hi tcp"));
    await waitFor(() => alice.responseTo(id2) !== undefined, 5000, "response from router");
    assertEq(responseBody(alice, id2), "echo:hi tcp", "tcp round trip");

    // alice -> hidden: through the router's passthrough, end-to-end encrypted
    const ctx3 = enc("ctx-routed");
    const id3 = alice.request("app:test:sys", "hidden.os@echo:test:sys", enc("hi hidden"), {
      context: ctx3,
    });
    await waitFor(() => alice.responseTo(id3) !== undefined, 5000, "response from hidden");
    assertEq(responseBody(alice, id3), "echo:hi hidden", "routed round trip");
    assert(bytesEqual(alice.responseTo(id3)!.context!, ctx3), "routed context");
    assert(
      router.module.diagnostics().includes("alice.os -> hidden.os"),
      "router holds the passthrough",
    );

    // a 5 MB blob to the indirect node and back through the passthrough
    const blob = patternBlob(5 * 1024 * 1024);
    const id4 = alice.request("app:test:sys", "hidden.os@echo:test:sys", enc("blob"), { blob });
    await waitFor(() => alice.responseTo(id4) !== undefined, 15_000, "blob echoed");
    assert(
      bytesEqual(hidden.delivered.find((d) => d.km.id === id4)!.km.lazyLoadBlob!.bytes, blob),
      "blob intact at hidden",
    );
    assert(
      bytesEqual(alice.responseTo(id4)!.km.lazyLoadBlob!.bytes, blob),
      "blob intact back at alice",
    );

    // the indirect node reaches a direct node on its own
    const id5 = hidden.request("app:test:sys", "ws-only.os@echo:test:sys", enc("from hidden"));
    await waitFor(() => hidden.responseTo(id5) !== undefined, 5000, "hidden -> ws-only");
    assertEq(responseBody(hidden, id5), "echo:from hidden", "indirect to direct");
    assertEq(nodes.reduce((n, x) => n + x.errors.length, 0), 0, "no send errors");
  } finally {
    await shutdownAll(nodes);
  }
});

Deno.test("net: an indirect node through a WS-only router (WS passthrough)", async () => {
  const router = testNode("wsrouter", { tcpPort: false, wsPort: 0, maxPassthroughs: 1 });
  const alice = testNode("alice", { tcpPort: 0, wsPort: 0 });
  const hidden = testNode("hidden", { routers: ["wsrouter.os"] });
  const nodes = [router, alice, hidden];
  sharePki(nodes);
  try {
    await startWithEcho(nodes);
    await hiddenConnected(router);
    const blob = patternBlob(300_000);
    const id = alice.request("app:test:sys", "hidden.os@echo:test:sys", enc("via ws"), { blob });
    await waitFor(
      () => alice.responseTo(id) !== undefined,
      5000,
      "response through ws passthrough",
    );
    assertEq(responseBody(alice, id), "echo:via ws", "body");
    assert(bytesEqual(alice.responseTo(id)!.km.lazyLoadBlob!.bytes, blob), "blob intact");
    assert(
      router.module.diagnostics().includes("alice.os -> hidden.os"),
      "passthrough held by the router",
    );
  } finally {
    await shutdownAll(nodes);
  }
});

Deno.test("net: both sides dialing at once settle on one connection", async () => {
  for (let round = 0; round < 3; round++) {
    const a = testNode("aa", { tcpPort: 0, wsPort: false });
    const b = testNode("bb", { tcpPort: 0, wsPort: false });
    sharePki([a, b]);
    try {
      a.echo();
      b.echo();
      await a.start();
      await b.start();
      const ida = a.request("app:test:sys", "bb.os@echo:test:sys", enc(`a${round}`));
      const idb = b.request("app:test:sys", "aa.os@echo:test:sys", enc(`b${round}`));
      await waitFor(() => !!a.responseTo(ida) && !!b.responseTo(idb), 5000, "both round trips");
      const one = (n: TestNode) => n.module.connectionCount() === 1;
      await waitFor(() => one(a) && one(b), 3000, "a single connection left");
      const ida2 = a.request("app:test:sys", "bb.os@echo:test:sys", enc("again"));
      const idb2 = b.request("app:test:sys", "aa.os@echo:test:sys", enc("again"));
      await waitFor(
        () => !!a.responseTo(ida2) && !!b.responseTo(idb2),
        5000,
        "round trips after settling",
      );
      assertEq(a.errors.length + b.errors.length, 0, "no send errors");
    } finally {
      await shutdownAll([a, b]);
    }
  }
});

Deno.test("net: a peer killed mid-run is Offline, then reachable again when back", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  let bob = testNode("bob", { tcpPort: 0, wsPort: false });
  const bobPort = bob.identity.ports.tcp;
  sharePki([alice, bob]);
  try {
    bob.echo();
    await alice.start();
    await bob.start();
    const id1 = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("one"));
    await waitFor(() => alice.responseTo(id1) !== undefined, 5000, "first round trip");

    await bob.shutdown();
    await waitFor(
      () => !alice.module.peerNames().includes("bob.os"),
      3000,
      "alice notices bob is gone",
    );
    const id2 = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("two"));
    await waitFor(() => alice.errorFor(id2) !== undefined, 5000, "offline error");
    const err = alice.errorFor(id2)!;
    assertEq(err.error.kind, "offline", "kind");
    assertEq(addressToString(err.error.target), "bob.os@echo:test:sys", "target kept");
    assertEq(addressToString(err.source), "alice.os@app:test:sys", "returned to the sender");
    assert(
      err.error.message.tag === "request" && dec(err.error.message.val.body) === "two",
      "message kept",
    );

    // bob comes back with the same key and port
    bob = testNode("bob", { tcpPort: bobPort, wsPort: false });
    bob.module.ingest(alice.identity);
    bob.echo();
    await bob.start();
    const id3 = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("three"));
    await waitFor(() => alice.responseTo(id3) !== undefined, 5000, "reachable again");
    assertEq(responseBody(alice, id3), "echo:three", "round trip after restart");
  } finally {
    await shutdownAll([alice, bob]);
  }
});

Deno.test("net: unknown node and unreachable router give Offline", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  // router that refuses passthroughs (max 0), and an indirect node behind it
  const router = testNode("router", { tcpPort: 0, wsPort: false });
  const hidden = testNode("hidden", { routers: ["router.os"] });
  const nodes = [alice, router, hidden];
  sharePki(nodes);
  try {
    for (const n of nodes) await n.start();
    await waitFor(() => router.module.peerNames().includes("hidden.os"), 3000, "hidden online");
    const id1 = alice.request("app:test:sys", "nobody.os@echo:test:sys", enc("x"));
    await waitFor(() => alice.errorFor(id1) !== undefined, 1000, "unknown node offline");
    const id2 = alice.request("app:test:sys", "hidden.os@echo:test:sys", enc("x"));
    await waitFor(() => alice.errorFor(id2) !== undefined, 5000, "no router will route");
    assertEq(alice.errorFor(id2)!.error.kind, "offline", "offline through a non-router");
  } finally {
    await shutdownAll(nodes);
  }
});

Deno.test("net: NetAction Sign / Verify, GetPeer, GetPeers, GetDiagnostics", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  const bob = testNode("bob", { tcpPort: 0, wsPort: false });
  sharePki([alice, bob]);
  try {
    bob.echo();
    await alice.start();
    await bob.start();
    const message = enc("sign me");
    const signed = await netRequest(alice, { tag: "Sign" }, message);
    assertEq(signed.response, "Signed", "Signed");
    assertEq(signed.blob?.length, 64, "signature in the blob");
    const from = parseAddress("alice.os@app:test:sys");
    const ok = await netRequest(alice, { tag: "Verify", from, signature: signed.blob! }, message);
    assertEq(JSON.stringify(ok.response), '{"Verified":true}', "alice verifies her own signature");
    const onBob = await netRequest(bob, { tag: "Verify", from, signature: signed.blob! }, message);
    assertEq(
      JSON.stringify(onBob.response),
      '{"Verified":true}',
      "bob verifies it with alice's PKI key",
    );
    const bad = await netRequest(
      bob,
      { tag: "Verify", from, signature: signed.blob! },
      enc("sign mE"),
    );
    assertEq(JSON.stringify(bad.response), '{"Verified":false}', "altered message fails");
    const other = parseAddress("alice.os@other:test:sys");
    const wrongSigner = await netRequest(
      bob,
      { tag: "Verify", from: other, signature: signed.blob! },
      message,
    );
    assertEq(
      JSON.stringify(wrongSigner.response),
      '{"Verified":false}',
      "address is part of what is signed",
    );

    const me = await netRequest(alice, { tag: "GetPeer", name: "alice.os" });
    assertEq(
      JSON.stringify(me.response),
      JSON.stringify({ Peer: alice.module.ourIdentity }),
      "GetPeer self",
    );
    const them = await netRequest(alice, { tag: "GetPeer", name: "bob.os" });
    assertEq(
      JSON.stringify(them.response),
      JSON.stringify({ Peer: identityFromHnsUpdate(bob.identity) }),
      "GetPeer pki",
    );
    const nobody = await netRequest(alice, { tag: "GetPeer", name: "nobody.os" });
    assertEq(JSON.stringify(nobody.response), '{"Peer":null}', "GetPeer unknown");

    const id = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("x"));
    await waitFor(() => alice.responseTo(id) !== undefined, 5000, "connect to bob");
    const peers = await netRequest(alice, { tag: "GetPeers" });
    assert(typeof peers.response === "object" && "Peers" in peers.response, "Peers");
    assertEq(
      JSON.stringify(peers.response.Peers.map((p) => p.name)),
      '["bob.os"]',
      "bob is a peer",
    );
    const diag = await netRequest(alice, { tag: "GetDiagnostics" });
    assert(typeof diag.response === "object" && "Diagnostics" in diag.response, "Diagnostics");
    assert(
      diag.response.Diagnostics.includes("we have 1 entries in the PKI"),
      diag.response.Diagnostics,
    );
  } finally {
    await shutdownAll([alice, bob]);
  }
});

Deno.test("net: a local HnsUpdate teaches the PKI; a remote hello is printed and acked", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  const bob = testNode("bob", { tcpPort: 0, wsPort: false });
  try {
    bob.module.ingest(alice.identity);
    await alice.start();
    await bob.start();
    const before = await netRequest(alice, { tag: "GetPeer", name: "bob.os" });
    assertEq(JSON.stringify(before.response), '{"Peer":null}', "not known yet");
    // any local process the kernel let through (HnsBatchUpdate as the hns-indexer sends)
    alice.request(
      "indexer:test:sys",
      "alice.os@net:distro:sys",
      encodeNetAction({ tag: "HnsBatchUpdate", updates: [bob.identity] }),
    );
    const learned = await netRequest(alice, { tag: "GetPeer", name: "bob.os" });
    assertEq(
      learned.response !== null && typeof learned.response === "object" &&
        "Peer" in learned.response && learned.response.Peer?.name,
      "bob.os",
      "learned",
    );

    // alice says hello to bob's net: bob prints it and answers "ack"
    const id = alice.request("app:test:sys", "bob.os@net:distro:sys", enc("hello bob"));
    await waitFor(() => alice.responseTo(id) !== undefined, 5000, "ack");
    assertEq(responseBody(alice, id), "ack", "acked");
    assert(bob.prints.some((p) => p.includes("alice.os: hello bob")), "hello printed");
  } finally {
    await shutdownAll([alice, bob]);
  }
});

// hyperdrive/src/net/mod.rs handle_local_request / handle_remote_request: what net
// does with each kind of request to itself, and where its answers go.
Deno.test("net: requests to net itself: local answers always sent, bad ones printed; remote PKI updates refused, other remote NetActions are hellos", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  const bob = testNode("bob", { tcpPort: 0, wsPort: false });
  sharePki([alice, bob]);
  const toNet = (node: TestNode, from: string, body: Uint8Array, rsvp?: string) => {
    const km = testKm(node.our, node.our, body, 0x5eedn);
    km.source = parseAddress(`${node.our}@${from}`);
    km.target = parseAddress(`${node.our}@net:distro:sys`);
    if (km.message.tag === "request") km.message.val.expectsResponse = undefined;
    if (rsvp) km.rsvp = parseAddress(rsvp);
    node.module.handleMessage(km);
    return km.id;
  };
  const settle = () => new Promise((r) => setTimeout(r, 100));
  try {
    await alice.start();
    await bob.start();

    // answered though no response is expected; to rsvp when there is one
    toNet(alice, "app:test:sys", encodeNetAction({ tag: "GetPeer", name: "bob.os" }));
    await waitFor(() => alice.responseTo(0x5eedn) !== undefined, 2000, "unexpected answer");
    const answer = alice.responseTo(0x5eedn)!.km;
    assertEq(addressToString(answer.target), "alice.os@app:test:sys", "to the source");
    assertEq(addressToString(answer.source), "alice.os@net:distro:sys", "from net");
    alice.delivered.length = 0;
    toNet(alice, "app:test:sys", encodeNetAction({ tag: "Sign" }), "alice.os@other:test:sys");
    await waitFor(() => alice.responseTo(0x5eedn) !== undefined, 2000, "answer to rsvp");
    const signed = alice.responseTo(0x5eedn)!.km;
    assertEq(addressToString(signed.target), "alice.os@other:test:sys", "to rsvp");
    assertEq(signed.lazyLoadBlob?.mime, undefined, "the signature blob has no mime");
    assertEq(signed.lazyLoadBlob?.bytes.length, 64, "the signature");

    // a local body that is no NetAction, and a local ConnectionRequest: no answer
    alice.delivered.length = 0;
    toNet(alice, "app:test:sys", enc("not msgpack"));
    toNet(alice, "app:test:sys", encodeNetAction({ tag: "ConnectionRequest", from: "bob.os" }));
    await settle();
    assertEq(alice.delivered.length, 0, "nothing answered");
    assertEq(alice.module.peerNames().length, 0, "nothing dialed");
    assert(
      alice.prints.some((p) => p.startsWith("net: ignoring request that is not a NetAction: ")),
      `malformed printed: ${JSON.stringify(alice.prints)}`,
    );

    // from alice to bob's net: an HnsUpdate is refused, not ingested, not answered
    const mallory = { ...alice.identity, name: "mallory.os" };
    const refused = alice.request(
      "app:test:sys",
      "bob.os@net:distro:sys",
      encodeNetAction({ tag: "HnsUpdate", update: mallory }),
    );
    await waitFor(
      () => bob.prints.includes("net: not allowed to update PKI from remote"),
      5000,
      "bob refuses",
    );
    const onBob = await netRequest(bob, { tag: "GetPeer", name: "mallory.os" });
    assertEq(JSON.stringify(onBob.response), '{"Peer":null}', "not ingested");
    // any other NetAction from another node is a hello: printed and acked
    const hello = alice.request("app:test:sys", "bob.os@net:distro:sys", enc("hi"));
    const getPeers = alice.request(
      "app:test:sys",
      "bob.os@net:distro:sys",
      encodeNetAction({ tag: "GetPeers" }),
    );
    await waitFor(() => alice.responseTo(getPeers) !== undefined, 5000, "GetPeers acked");
    await waitFor(() => alice.responseTo(hello) !== undefined, 5000, "hello acked");
    assertEq(responseBody(alice, getPeers), "ack", "remote GetPeers acked as a hello");
    assert(
      bob.prints.some((p) => p.includes("alice.os: !!message parse error!!")),
      "its msgpack body printed as a hello",
    );
    assertEq(alice.responseTo(refused), undefined, "the refused HnsUpdate got no answer");
  } finally {
    await shutdownAll([alice, bob]);
  }
});

Deno.test("net: past max-peers the least recently used peer is dropped, then reopened on demand", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false, maxPeers: 1 });
  const bob = testNode("bob", { tcpPort: 0, wsPort: false });
  const carol = testNode("carol", { tcpPort: 0, wsPort: false });
  const nodes = [alice, bob, carol];
  sharePki(nodes);
  try {
    await startWithEcho(nodes);
    const id1 = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("1"));
    await waitFor(() => alice.responseTo(id1) !== undefined, 5000, "bob");
    const id2 = alice.request("app:test:sys", "carol.os@echo:test:sys", enc("2"));
    await waitFor(() => alice.responseTo(id2) !== undefined, 5000, "carol");
    assertEq(JSON.stringify(alice.module.peerNames()), '["carol.os"]', "bob dropped for carol");
    await waitFor(() => !bob.module.peerNames().includes("alice.os"), 3000, "bob sees the close");
    const id3 = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("3"));
    await waitFor(() => alice.responseTo(id3) !== undefined, 5000, "bob again");
    assertEq(JSON.stringify(alice.module.peerNames()), '["bob.os"]', "carol dropped for bob");
  } finally {
    await shutdownAll(nodes);
  }
});

// ---------------------------------------------------------------------------
// hostile connections: each closes only itself

const mallory: LocalNode = { name: "mallory.os", networkingKey: seedFor("mallory") };
const malloryRecord = {
  name: mallory.name,
  public_key: netKeyToHex(networkingPublicKey(mallory.networkingKey)),
  ips: ["127.0.0.1"],
  ports: { tcp: 1 },
  routers: [],
};

/** Mallory's initiator handshake written by hand on a raw socket. */
async function rawHandshake(port: number) {
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new RawReader(raw);
  const hs = new HandshakeState({ initiator: true });
  const m1 = hs.writeMessage();
  await writeAll(raw, concatBytes(u16be(m1.length), m1));
  hs.readMessage(await reader.exact((await reader.exact(2)).reduce((a, b) => a * 256 + b)));
  const m3 = hs.writeMessage(encodeHandshakePayload({
    protocol_version: 1,
    name: mallory.name,
    signature: signWithNetworkingKey(mallory.networkingKey, hs.localStaticPublicKey),
    proxy_request: false,
  }));
  await writeAll(raw, concatBytes(u16be(m3.length), m3));
  return { raw, reader, transport: hs.intoTransport(), m1, m3 };
}

Deno.test("net: forged source, truncated frame, garbage and replayed handshakes close only that connection", async () => {
  const alice = testNode("alice", { tcpPort: 0, wsPort: false });
  const bob = testNode("bob", { tcpPort: 0, wsPort: false });
  sharePki([alice, bob]);
  bob.module.ingest(malloryRecord);
  const bobId = identityFromHnsUpdate(bob.identity);
  const port = bob.identity.ports.tcp;
  let rounds = 0;
  const stillWorks = async () => {
    const id = alice.request("app:test:sys", "bob.os@echo:test:sys", enc(`round ${++rounds}`));
    await waitFor(() => alice.responseTo(id) !== undefined, 5000, `alice <-> bob round ${rounds}`);
  };
  try {
    bob.echo();
    await alice.start();
    await bob.start();
    await stillWorks();

    // forged source node: mallory, handshaken as herself, sends a message "from" alice
    {
      const link = await connectTcp("127.0.0.1", port);
      const s = await initiateHandshake(link, mallory, bobId);
      const forged = testKm("alice.os", "bob.os", enc("forged"));
      forged.target = parseAddress("bob.os@echo:test:sys");
      link.sendMessage(s.send, encodeKernelMessage(forged, MESSAGE_PREFIX));
      let closed = false;
      try {
        await link.recvMessage(s.recv);
      } catch {
        closed = true;
      }
      assert(closed, "bob hangs up on a forged source");
      await link.close();
      const bodies = bob.delivered.map((d) =>
        d.km.message.tag === "request" ? dec(d.km.message.val.body) : ""
      );
      assert(!bodies.includes("forged"), "forged message not delivered");
      assert(
        bob.prints.some((p) => p.includes("spoofed source from mallory.os")),
        "spoof reported",
      );
      await stillWorks();
    }

    // truncated frame: a chunk 10 bytes shorter than its ciphertext, so its tag cannot check
    {
      const { raw, reader, transport } = await rawHandshake(port);
      const serialized = encodeKernelMessage(testKm("mallory.os", "bob.os", enc("cut short")));
      const ct = transport.send.encrypt(serialized);
      const short = ct.subarray(0, ct.length - 10);
      await writeAll(
        raw,
        concatBytes(u32be(serialized.length), u16be(short.length), short, new Uint8Array(64)),
      );
      assert(await reader.closedWithin(3000), "bob hangs up on a truncated frame");
      raw.close();
      await stillWorks();
    }

    // garbage handshakes: a random `e` then a junk third message; and a junk routing request
    for (
      const first of [
        crypto.getRandomValues(new Uint8Array(32)),
        crypto.getRandomValues(new Uint8Array(50)),
      ]
    ) {
      const raw = await Deno.connect({ hostname: "127.0.0.1", port });
      const reader = new RawReader(raw);
      await writeAll(raw, concatBytes(u16be(first.length), first));
      if (first.length === 32) {
        await reader.exact((await reader.exact(2)).reduce((a, b) => a * 256 + b));
        const junk = crypto.getRandomValues(new Uint8Array(64));
        await writeAll(raw, concatBytes(u16be(junk.length), junk));
      }
      assert(
        await reader.closedWithin(3000),
        `bob hangs up on a garbage handshake (${first.length})`,
      );
      raw.close();
      await stillWorks();
    }

    // replayed handshake: a recorded first and third message on a new connection
    {
      const recorded = await rawHandshake(port);
      recorded.raw.close();
      const raw = await Deno.connect({ hostname: "127.0.0.1", port });
      const reader = new RawReader(raw);
      await writeAll(raw, concatBytes(u16be(recorded.m1.length), recorded.m1));
      await reader.exact((await reader.exact(2)).reduce((a, b) => a * 256 + b));
      await writeAll(raw, concatBytes(u16be(recorded.m3.length), recorded.m3));
      assert(await reader.closedWithin(3000), "bob hangs up on a replayed handshake");
      raw.close();
      await stillWorks();
    }
    assert(bob.module.peerNames().includes("alice.os"), "alice's connection survived it all");
  } finally {
    await shutdownAll([alice, bob]);
  }
});
