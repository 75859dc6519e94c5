// Behaviour pinned against Hyperdrive's source (hyperdrive/src/net/mod.rs,
// net/utils.rs) in an independent audit: each test names the Rust it follows.

import {
  decodeKernelMessage,
  decodeNetResponse,
  encodeKernelMessage,
  encodeNetAction,
} from "../../net/codec.ts";
import {
  buildRoutingRequest,
  initiateHandshake,
  type LocalNode,
  networkingPublicKey,
} from "../../net/handshake.ts";
import { type Link, MESSAGE_PREFIX } from "../../net/link.ts";
import { connectTcp } from "../../net/tcp.ts";
import { type HnsUpdate, identityFromHnsUpdate, netKeyToHex } from "../../wire/net.ts";
import { type KernelMessage, parseAddress } from "../../wire/core.ts";
import { TestNode } from "./harness.ts";
import { assert, assertEq, bytesEqual, seedFor, waitFor } from "./helpers.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

function localNode(label: string): LocalNode {
  return { name: `${label}.os`, networkingKey: seedFor(label) };
}

/** The HNS record of an indirect node reached through `routers`. */
function indirectRecord(node: LocalNode, routers: string[]): HnsUpdate {
  return {
    name: node.name,
    public_key: netKeyToHex(networkingPublicKey(node.networkingKey)),
    ips: [],
    ports: {},
    routers,
  };
}

/** Resolves true once `link` is closed by the other end, false after `ms`. */
async function closedWithin(link: Link, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const closed = link.recvRaw().then(() => false, () => true);
  const result = await Promise.race([closed, timeout]);
  clearTimeout(timer);
  return result;
}

// hyperdrive/src/net/mod.rs handle_response: NetResponse::Rejected(to) from node T
// removes exactly the pending passthrough keyed (from = to, target = T), i.e.
// `pending_passthroughs.remove(&(to, km.source.node))`; dropping it drops the
// initiator's socket. Pending passthroughs of the same initiator towards other
// targets stay.
Deno.test("compat: Rejected(to) from an indirect node drops only the (to, that node) passthrough", async () => {
  const router = new TestNode("router.os", {
    networkingKey: seedFor("router"),
    tcpPort: 0,
    wsPort: false,
    maxPassthroughs: 4,
    listenHostname: "127.0.0.1",
  });
  const alice = localNode("alice");
  const ivy = localNode("ivy");
  const jay = localNode("jay");
  const aliceRecord: HnsUpdate = {
    ...indirectRecord(alice, []),
    ips: ["127.0.0.1"],
    ports: { tcp: 1 },
  };
  router.module.ingest(aliceRecord);
  router.module.ingest(indirectRecord(ivy, ["router.os"]));
  router.module.ingest(indirectRecord(jay, ["router.os"]));
  const routerId = identityFromHnsUpdate(router.identity);
  const port = router.identity.ports.tcp;
  const links: Link[] = [];
  try {
    await router.start();
    // ivy and jay: indirect nodes that asked the router to route for them (proxy_request)
    const routed = [];
    for (const node of [ivy, jay]) {
      const link = await connectTcp("127.0.0.1", port);
      links.push(link);
      routed.push({
        node,
        link,
        session: await initiateHandshake(link, node, routerId, { proxyRequest: true }),
      });
    }
    // alice asks the router for a passthrough to each of them: two pendings
    const aliceLinks: Link[] = [];
    for (const target of ["ivy.os", "jay.os"]) {
      const link = await connectTcp("127.0.0.1", port);
      links.push(link);
      aliceLinks.push(link);
      await link.sendRaw(buildRoutingRequest(alice, target, "router.os"));
    }
    // each target gets the router's ConnectionRequest, built as create_passthrough does
    const requests: KernelMessage[] = [];
    for (const r of routed) {
      requests.push(decodeKernelMessage(await r.link.recvMessage(r.session.recv)));
    }
    for (const [i, km] of requests.entries()) {
      const target = routed[i].node.name;
      assertEq(
        `${km.source.node}@${km.source.process.processName}`,
        "router.os@net",
        "ConnectionRequest source",
      );
      assertEq(`${km.target.node}@${km.target.process.processName}`, `${target}@net`, "target");
      assertEq(km.rsvp, undefined, "no rsvp");
      assertEq(km.lazyLoadBlob, undefined, "no blob");
      assert(km.message.tag === "request", "a request");
      const q = km.message.val;
      assertEq(q.inherit, false, "inherit");
      assertEq(q.expectsResponse, 5n, "expects_response Some(5)");
      assertEq(q.metadata, undefined, "metadata None");
      assertEq(q.capabilities.length, 0, "no capabilities");
      // rmp_serde::to_vec(&NetAction::ConnectionRequest("alice.os")): a newtype variant
      // is a one-entry map { variant: value }: 81, fixstr(17) b1 "ConnectionRequest",
      // fixstr(8) a8 "alice.os"
      const expected = Uint8Array.of(
        0x81,
        0xb1,
        ...new TextEncoder().encode("ConnectionRequest"),
        0xa8,
        ...new TextEncoder().encode("alice.os"),
      );
      assert(bytesEqual(q.body, expected), `body ${hex(q.body)}`);
    }
    await waitFor(
      () => router.module.diagnostics().includes("we have 2 pending passthroughs"),
      2000,
      "two pending passthroughs",
    );

    // ivy declines: Response { body: rmp(NetResponse::Rejected("alice.os")) } to router's net
    const rejected = Uint8Array.of(
      0x81,
      0xa8,
      ...new TextEncoder().encode("Rejected"),
      0xa8,
      ...new TextEncoder().encode("alice.os"),
    );
    const reply: KernelMessage = {
      id: requests[0].id,
      source: parseAddress("ivy.os@net:distro:sys"),
      target: parseAddress("router.os@net:distro:sys"),
      message: {
        tag: "response",
        val: [{ inherit: false, body: rejected, metadata: undefined, capabilities: [] }, undefined],
      },
    };
    routed[0].link.sendMessage(routed[0].session.send, encodeKernelMessage(reply, MESSAGE_PREFIX));

    assert(await closedWithin(aliceLinks[0], 3000), "alice's socket for ivy is dropped");
    const diag = router.module.diagnostics();
    assert(diag.includes("we have 1 pending passthroughs"), `one pending left:\n${diag}`);
    assert(diag.includes("alice.os -> jay.os"), `alice -> jay still pending:\n${diag}`);
    assert(!diag.includes("alice.os -> ivy.os"), `alice -> ivy gone:\n${diag}`);
    assert(!(await closedWithin(aliceLinks[1], 200)), "alice's socket for jay is kept");
  } finally {
    await Promise.all(links.map((l) => l.close()));
    await router.shutdown();
  }
});

// hyperdrive/src/net/mod.rs handle_local_request: HnsUpdate and HnsBatchUpdate from
// any local process are ingested; net checks no capability of its own. The kernel
// has already required the messaging capability to net:distro:sys, which is all
// Hyperdrive's hns-indexer holds (its manifest requests "net:distro:sys").
Deno.test("compat: a local HnsUpdate / HnsBatchUpdate is ingested without the root capability", async () => {
  const node = new TestNode("alice.os", {
    networkingKey: seedFor("alice"),
    tcpPort: 0,
    wsPort: false,
    listenHostname: "127.0.0.1",
  });
  const bob = indirectRecord(localNode("bob"), ["router.os"]);
  const carol = indirectRecord(localNode("carol"), ["router.os"]);
  const peerName = (id: bigint) => {
    const d = node.responseTo(id);
    if (!d || d.km.message.tag !== "response") return undefined;
    const r = decodeNetResponse(d.km.message.val[0].body);
    return typeof r === "object" && "Peer" in r ? r.Peer?.name ?? null : undefined;
  };
  const ask = async (name: string) => {
    const id = node.request(
      "hns-indexer:hns-indexer:sys",
      "alice.os@net:distro:sys",
      encodeNetAction({ tag: "GetPeer", name }),
    );
    await waitFor(() => node.responseTo(id) !== undefined, 2000, `GetPeer ${name}`);
    return peerName(id);
  };
  try {
    await node.start();
    node.request(
      "hns-indexer:hns-indexer:sys",
      "alice.os@net:distro:sys",
      encodeNetAction({ tag: "HnsUpdate", update: bob }),
    );
    node.request(
      "hns-indexer:hns-indexer:sys",
      "alice.os@net:distro:sys",
      encodeNetAction({ tag: "HnsBatchUpdate", updates: [carol] }),
    );
    assertEq(await ask("bob.os"), "bob.os", "HnsUpdate ingested");
    assertEq(await ask("carol.os"), "carol.os", "HnsBatchUpdate ingested");
    assert(!node.prints.some((p) => p.includes("may not update")), "no refusal printed");
  } finally {
    await node.shutdown();
  }
});
