// A new connection the peer closes right after the handshake (it does not know us
// yet: "unknown HNS name") must not swallow what we sent on it: every message sent
// there comes back as SendError Offline as soon as the connection ends, over TCP
// and WS. A connection the peer accepted is unaffected. Below, PeerConnection's
// part: what it hands back (refused, unsent) and when.

import { PeerConnection, type Undelivered } from "../../net/connection.ts";
import {
  initiateHandshake,
  type LocalNode,
  respondHandshake,
  type Session,
} from "../../net/handshake.ts";
import type { Link } from "../../net/link.ts";
import { connectTcp, listenTcp } from "../../net/tcp.ts";
import { connectWs, serveWs } from "../../net/ws.ts";
import { addressToString, type KernelMessage } from "../../wire/core.ts";
import { TestNode } from "./harness.ts";
import {
  assert,
  assertEq,
  directIdentity,
  patternBlob,
  seedFor,
  testKm,
  waitFor,
} from "./helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const fast = { timeoutMs: 2000, routerRetryMs: 100, listenHostname: "127.0.0.1" };

const transports = [
  { kind: "TCP", ports: { tcpPort: 0, wsPort: false } },
  { kind: "WS", ports: { tcpPort: false, wsPort: 0 } },
] as const;

for (const { kind, ports } of transports) {
  Deno.test(`net (${kind}): requests on a connection the peer refuses after the handshake are Offline at once`, async () => {
    const alice = new TestNode("alice.os", { networkingKey: seedFor("alice"), ...fast, ...ports });
    const bob = new TestNode("bob.os", { networkingKey: seedFor("bob"), ...fast, ...ports });
    // alice knows bob; bob does not know alice yet
    alice.module.ingest(bob.identity);
    try {
      bob.echo();
      await alice.start();
      await bob.start();
      const t0 = performance.now();
      // the first one opens the connection, the others wait in its queue
      const ids = ["one", "two", "three"].map((s) =>
        alice.request("app:test:sys", "bob.os@echo:test:sys", enc(s), { expectsResponse: 600n })
      );
      await waitFor(() => ids.every((id) => alice.errorFor(id)), 1500, "Offline for every request");
      const ms = performance.now() - t0;
      assert(
        bob.prints.some((p) => p.includes("unknown HNS name 'alice.os'")),
        "bob refused alice",
      );
      ids.forEach((id, i) => {
        const err = alice.errorFor(id)!;
        assertEq(err.error.kind, "offline", "kind");
        assertEq(addressToString(err.error.target), "bob.os@echo:test:sys", "target kept");
        assertEq(addressToString(err.source), "alice.os@app:test:sys", "back to the sender");
        const m = err.error.message;
        assert(m.tag === "request" && dec(m.val.body) === ["one", "two", "three"][i], "message");
      });
      assertEq(alice.errors.length, 3, "one error per request");
      console.log(`  Offline after ${ms.toFixed(0)} ms`);

      // a request after the refusal dials again and is refused again: Offline again
      const again = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("again"));
      await waitFor(() => alice.errorFor(again) !== undefined, 1500, "Offline again");

      // once bob knows alice, the same request goes through; no more errors
      bob.module.ingest(alice.identity);
      const ok = alice.request("app:test:sys", "bob.os@echo:test:sys", enc("known"));
      await waitFor(() => alice.responseTo(ok) !== undefined, 3000, "round trip once known");
      assertEq(alice.errors.length, 4, "no error for the answered request");
      // an accepted connection that goes quiet and is closed by bob reports nothing
      await bob.shutdown();
      await waitFor(() => !alice.module.peerNames().includes("bob.os"), 3000, "bob gone");
      assertEq(alice.errors.length, 4, "closing an accepted connection reports nothing");
    } finally {
      await Promise.all([alice.shutdown(), bob.shutdown()]);
    }
  });
}

// ---------------------------------------------------------------------------
// PeerConnection: what it hands back when it ends

const aliceNode: LocalNode = { name: "alice.os", networkingKey: seedFor("alice") };
const bobNode: LocalNode = { name: "bob.os", networkingKey: seedFor("bob") };
const bobId = directIdentity(bobNode.name, bobNode.networkingKey, { tcp: 1 });
const aliceId = directIdentity(aliceNode.name, aliceNode.networkingKey, { tcp: 1 });

/** alice dials bob; both ends' sessions. */
async function linkPair(kind: "tcp" | "ws") {
  let accepted: Promise<Session> | undefined;
  const onLink = (link: Link) => {
    accepted = (async () => respondHandshake(link, bobNode, await link.recvRaw(), () => aliceId))();
  };
  const server = kind === "tcp"
    ? listenTcp("127.0.0.1", 0, onLink)
    : serveWs("127.0.0.1", 0, onLink);
  const link = kind === "tcp"
    ? await connectTcp("127.0.0.1", server.port)
    : await connectWs("127.0.0.1", server.port);
  const a = await initiateHandshake(link, aliceNode, bobId);
  await waitFor(() => accepted !== undefined, 2000, "accept");
  return { server, a, b: await accepted! };
}

interface Ended {
  conn: PeerConnection;
  got: KernelMessage[];
  lost?: Undelivered;
  unsentLater: KernelMessage[];
}

function watch(s: Session, peer: string, confirmMs = 0): Ended {
  const e: Partial<Ended> & { got: KernelMessage[]; unsentLater: KernelMessage[] } = {
    got: [],
    unsentLater: [],
  };
  e.conn = new PeerConnection(
    s,
    peer,
    {
      onMessage: (km) => e.got.push(km),
      onClose: (_c, _reason, lost) => (e.lost = lost),
      onUnsent: (km) => e.unsentLater.push(km),
      print: () => {},
    },
    undefined,
    confirmMs,
  );
  return e as Ended;
}

const km = (n: number, from = "alice.os", to = "bob.os") =>
  testKm(from, to, Uint8Array.of(n), BigInt(n));
const ids = (kms: KernelMessage[] | undefined) => JSON.stringify(kms?.map((k) => Number(k.id)));

for (const kind of ["tcp", "ws"] as const) {
  Deno.test(`${kind}: a dialed connection the peer closes in silence hands back what it sent as refused`, async () => {
    // the peer closes before sending anything: refused
    {
      const { server, a, b } = await linkPair(kind);
      const ca = watch(a, "bob.os", 2000);
      ca.conn.send(km(1));
      ca.conn.send(km(2));
      await b.link.close();
      await ca.conn.done;
      // the first was written; a later one may fail to write (the peer is gone): unsent
      const lost = [...ca.lost!.refused, ...ca.lost!.unsent].map((k) => Number(k.id));
      assertEq(JSON.stringify(lost.sort()), "[1,2]", "each one refused or unsent, once");
      assertEq(ca.lost!.refused[0]?.id, 1n, "the first was refused");
      await server.close();
    }
    // the peer spoke first: it accepted us, nothing is refused
    {
      const { server, a, b } = await linkPair(kind);
      const ca = watch(a, "bob.os", 2000);
      const cb = watch(b, "alice.os");
      cb.conn.send(km(9, "bob.os", "alice.os"));
      await waitFor(() => ca.got.length === 1, 2000, "bob's message");
      ca.conn.send(km(3));
      await waitFor(() => cb.got.length === 1, 2000, "alice's message");
      await cb.conn.close();
      await ca.conn.done;
      assertEq(ids(ca.lost?.refused), "[]", "nothing refused once the peer spoke");
      assertEq(ids(cb.lost?.refused), "[]", "an accepted connection refuses nothing");
      await server.close();
    }
    // past the confirmation time: nothing is kept
    {
      const { server, a, b } = await linkPair(kind);
      const ca = watch(a, "bob.os", 50);
      await new Promise((r) => setTimeout(r, 120));
      ca.conn.send(km(4));
      await b.link.close();
      await ca.conn.done;
      assertEq(ids(ca.lost?.refused), "[]", "nothing refused after the window");
      await server.close();
    }
    // we close it ourselves: nothing refused
    {
      const { server, a, b } = await linkPair(kind);
      const ca = watch(a, "bob.os", 2000);
      ca.conn.send(km(5));
      await ca.conn.close();
      assertEq(ids(ca.lost?.refused), "[]", "our own close refuses nothing");
      await b.link.close();
      await server.close();
    }
  });

  Deno.test(`${kind}: what a connection never wrote is handed back as unsent, before and after it ends`, async () => {
    const { server, a, b } = await linkPair(kind);
    const ca = watch(a, "bob.os");
    try {
      if (kind === "tcp") {
        // a large message is still being written slice by slice when we close
        ca.conn.send({ ...km(1), lazyLoadBlob: { bytes: patternBlob(5 * 1024 * 1024) } });
        ca.conn.send(km(2));
        const closing = ca.conn.close();
        ca.conn.send(km(3));
        await closing;
        assertEq(ids(ca.lost?.unsent), "[1,2,3]", "unsent: cut short, queued, after close");
      } else {
        a.link.close();
        ca.conn.send(km(3));
        await ca.conn.done;
        assertEq(ids(ca.lost?.unsent), "[3]", "unsent after the link closed");
      }
      assertEq(ids(ca.lost?.refused), "[]", "no refused");
      ca.conn.send(km(4));
      assertEq(ids(ca.unsentLater), "[4]", "sent after the end: onUnsent");
    } finally {
      await ca.conn.close();
      await b.link.close();
      await server.close();
    }
  });
}
