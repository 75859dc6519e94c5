// TCP and WebSocket framing and the handshake, checked against peers that speak
// Hyperdrive's wire protocol by hand (framing written here from tcp/utils.rs and
// ws/utils.rs, not shared with net/tcp.ts or net/ws.ts), plus link-to-link runs.

import {
  decodeHandshakePayload,
  encodeHandshakePayload,
  encodeKernelMessage,
} from "../../net/codec.ts";
import { PeerConnection } from "../../net/connection.ts";
import {
  HandshakeError,
  initiateHandshake,
  type LocalNode,
  respondHandshake,
  type Session,
  signWithNetworkingKey,
  verifyNetworkingSignature,
} from "../../net/handshake.ts";
import type { Link } from "../../net/link.ts";
import { HandshakeState } from "../../net/noise.ts";
import { connectTcp, listenTcp } from "../../net/tcp.ts";
import { connectWs, serveWs } from "../../net/ws.ts";
import { type Identity, netKeyFromHex } from "../../wire/net.ts";
import type { KernelMessage } from "../../wire/core.ts";
import {
  assert,
  assertEq,
  bytesEqual,
  concatBytes,
  directIdentity,
  patternBlob,
  randomBytes,
  RawReader,
  seedFor,
  testKm,
  u16be,
  u32be,
  waitFor,
  writeAll,
} from "./helpers.ts";

const alice: LocalNode = { name: "alice.os", networkingKey: seedFor("alice") };
const bob: LocalNode = { name: "bob.os", networkingKey: seedFor("bob") };
const aliceId = directIdentity(alice.name, alice.networkingKey, { tcp: 1 });
const bobId = directIdentity(bob.name, bob.networkingKey, { tcp: 1 });
const pki = new Map<string, Identity>([[alice.name, aliceId], [bob.name, bobId]]);
const lookup = (n: string) => pki.get(n);

/** Server side (bob): accept links, answer the handshake, collect what arrives. */
function collectingServer() {
  const received: KernelMessage[] = [];
  const closes: string[] = [];
  const conns: PeerConnection[] = [];
  const pending: Promise<unknown>[] = [];
  const onLink = (link: Link) => {
    pending.push((async () => {
      try {
        const first = await link.recvRaw();
        const s = await respondHandshake(link, bob, first, lookup);
        conns.push(
          new PeerConnection(s, s.peer.name, {
            onMessage: (km) => received.push(km),
            onClose: (_c, reason) => closes.push(reason),
            print: () => {},
          }),
        );
      } catch (e) {
        closes.push(`handshake: ${(e as Error).message}`);
        await link.close();
      }
    })());
  };
  const shutdown = async () => {
    await Promise.all(pending);
    await Promise.all(conns.map((c) => c.close()));
  };
  return { received, closes, conns, onLink, shutdown };
}

/** Alice's side of the handshake by hand; `send`/`recv` frame with the given transport. */
async function rawInitiator(
  send: (frame: Uint8Array) => Promise<void>,
  recv: () => Promise<Uint8Array>,
) {
  const hs = new HandshakeState({ initiator: true });
  const e = hs.writeMessage();
  assertEq(e.length, 32, "first handshake frame is a bare e");
  await send(e);
  const theirs = decodeHandshakePayload(hs.readMessage(await recv()));
  assertEq(theirs.name, bob.name, "responder names itself");
  assertEq(theirs.protocol_version, 1, "protocol version");
  assert(
    verifyNetworkingSignature(
      netKeyFromHex(bobId.networking_key),
      hs.remoteStaticPublicKey!,
      theirs.signature,
    ),
    "responder signed its noise static key with its networking key",
  );
  await send(hs.writeMessage(encodeHandshakePayload({
    protocol_version: 1,
    name: alice.name,
    signature: signWithNetworkingKey(alice.networkingKey, hs.localStaticPublicKey),
    proxy_request: false,
  })));
  return hs.intoTransport();
}

Deno.test("tcp: framing matches Hyperdrive byte for byte, both directions", async () => {
  const srv = collectingServer();
  const server = listenTcp("127.0.0.1", 0, srv.onLink);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const reader = new RawReader(conn);
  try {
    const t = await rawInitiator(
      (f) => writeAll(conn, concatBytes(u16be(f.length), f)),
      async () =>
        reader.exact(((await reader.exact(2)) as Uint8Array).reduce((a, b) => a * 256 + b)),
    );
    // alice -> bob: u32 length in the clear, then (u16 length, ciphertext) per 65519-byte chunk
    const km = testKm(alice.name, bob.name, patternBlob(150_000));
    const serialized = encodeKernelMessage(km);
    const parts: Uint8Array[] = [u32be(serialized.length)];
    for (let off = 0; off < serialized.length; off += 65519) {
      const ct = t.send.encrypt(serialized.subarray(off, off + 65519));
      parts.push(u16be(ct.length), ct);
    }
    const chunks = Math.ceil(serialized.length / 65519);
    assert(chunks >= 3, "the body spans several chunks");
    assertEq(parts.length, 1 + 2 * chunks, "one (length, ciphertext) pair per chunk");
    await writeAll(conn, concatBytes(...parts));
    await waitFor(() => srv.received.length === 1, 3000, "bob receives");
    assert(bytesEqual(encodeKernelMessage(srv.received[0]), serialized), "bob decoded it intact");

    // bob -> alice through net/tcp.ts, parsed by hand
    const reply = testKm(bob.name, alice.name, patternBlob(70_000), 8n);
    srv.conns[0].send(reply);
    const outer = (await reader.exact(4)).reduce((a, b) => a * 256 + b);
    const expected = encodeKernelMessage(reply);
    assertEq(outer, expected.length, "outer length is the plaintext length");
    const got: Uint8Array[] = [];
    let have = 0;
    while (have < outer) {
      const len = (await reader.exact(2)).reduce((a, b) => a * 256 + b);
      assert(len <= 65535, "chunk fits a noise message");
      const pt = t.recv.decrypt(await reader.exact(len));
      got.push(pt);
      have += pt.length;
    }
    assertEq(got.length, Math.ceil(expected.length / 65519), "one frame per 65519-byte chunk");
    assertEq(got[0].length, 65519, "first chunk is full");
    assert(bytesEqual(concatBytes(...got), expected), "alice decrypts bob's exact bytes");
  } finally {
    conn.close();
    await srv.shutdown();
    await server.close();
  }
});

Deno.test("tcp: small messages queued behind a write share writes, byte-exact and in order", async () => {
  const srv = collectingServer();
  const server = listenTcp("127.0.0.1", 0, srv.onLink);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const reader = new RawReader(conn);
  const proto = Object.getPrototypeOf(conn);
  const ownWrite = Object.getOwnPropertyDescriptor(proto, "write");
  try {
    const t = await rawInitiator(
      (f) => writeAll(conn, concatBytes(u16be(f.length), f)),
      async () =>
        reader.exact(((await reader.exact(2)) as Uint8Array).reduce((a, b) => a * 256 + b)),
    );
    await waitFor(() => srv.conns.length === 1, 3000, "bob's connection");
    // count bob's socket writes (the accepted side's TcpConn shares the prototype)
    let bobWrites = 0;
    const write = proto.write;
    proto.write = function (this: Deno.Conn, p: Uint8Array) {
      if (this !== conn) bobWrites++;
      return write.call(this, p);
    };
    const count = 300;
    const sent = Array.from(
      { length: count },
      (_, i) => testKm(bob.name, alice.name, randomBytes(1 + (i % 50)), BigInt(i + 1)),
    );
    // one synchronous run: the first goes out at once, the rest queue behind its write
    for (const km of sent) srv.conns[0].send(km);
    for (let i = 0; i < count; i++) {
      const outer = (await reader.exact(4)).reduce((a, b) => a * 256 + b);
      const expected = encodeKernelMessage(sent[i]);
      assertEq(outer, expected.length, `message ${i + 1}: outer length`);
      const len = (await reader.exact(2)).reduce((a, b) => a * 256 + b);
      assertEq(len, expected.length + 16, `message ${i + 1}: one chunk`);
      const pt = t.recv.decrypt(await reader.exact(len));
      assert(bytesEqual(pt, expected), `message ${i + 1}: exact bytes, in order`);
    }
    assert(bobWrites >= 1 && bobWrites <= 10, `${count} small messages took ${bobWrites} writes`);
  } finally {
    if (ownWrite) Object.defineProperty(proto, "write", ownWrite);
    else delete proto.write;
    conn.close();
    await srv.shutdown();
    await server.close();
  }
});

Deno.test("ws: framing matches Hyperdrive byte for byte, both directions", async () => {
  const srv = collectingServer();
  const server = serveWs("127.0.0.1", 0, srv.onLink);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}`);
  ws.binaryType = "arraybuffer";
  const inbox: Uint8Array[] = [];
  const waiters: ((b: Uint8Array) => void)[] = [];
  ws.onmessage = (ev) => {
    assert(typeof ev.data !== "string", "only binary messages");
    const b = new Uint8Array(ev.data as ArrayBuffer);
    const w = waiters.shift();
    if (w) w(b);
    else inbox.push(b);
  };
  const closed = new Promise((r) => (ws.onclose = r));
  await new Promise((r) => (ws.onopen = r));
  const next = () =>
    inbox.length
      ? Promise.resolve(inbox.shift()!)
      : new Promise<Uint8Array>((r) => waiters.push(r));
  try {
    const t = await rawInitiator((f) => Promise.resolve(ws.send(f)), next);
    // alice -> bob: plaintext = u32 length ++ message, cut into 65519-byte chunks, one Binary each
    const km = testKm(alice.name, bob.name, patternBlob(100_000));
    const serialized = encodeKernelMessage(km);
    const plain = concatBytes(u32be(serialized.length), serialized);
    for (let off = 0; off < plain.length; off += 65519) {
      ws.send(t.send.encrypt(plain.subarray(off, off + 65519)));
    }
    await waitFor(() => srv.received.length === 1, 3000, "bob receives");
    assert(bytesEqual(encodeKernelMessage(srv.received[0]), serialized), "bob decoded it intact");

    const reply = testKm(bob.name, alice.name, patternBlob(65_600), 8n);
    srv.conns[0].send(reply);
    const expected = encodeKernelMessage(reply);
    const first = t.recv.decrypt(await next());
    assertEq(first.length, 65519, "first frame carries a full chunk");
    const len = new DataView(first.buffer, first.byteOffset).getUint32(0);
    assertEq(len, expected.length, "length prefix inside the first chunk");
    const second = t.recv.decrypt(await next());
    assert(
      bytesEqual(concatBytes(first.subarray(4), second), expected),
      "alice decrypts bob's exact bytes",
    );
  } finally {
    ws.close();
    await closed;
    await srv.shutdown();
    await server.close();
  }
});

async function linkPair(kind: "tcp" | "ws") {
  let accepted: Promise<Session & { peer: Identity }> | undefined;
  const onLink = (link: Link) => {
    accepted = (async () => respondHandshake(link, bob, await link.recvRaw(), lookup))();
  };
  const server = kind === "tcp"
    ? listenTcp("127.0.0.1", 0, onLink)
    : serveWs("127.0.0.1", 0, onLink);
  const link = kind === "tcp"
    ? await connectTcp("127.0.0.1", server.port)
    : await connectWs("127.0.0.1", server.port);
  const a = await initiateHandshake(link, alice, bobId);
  await waitFor(() => accepted !== undefined, 2000, "accept");
  const b = await accepted!;
  return { server, a, b };
}

for (const kind of ["tcp", "ws"] as const) {
  Deno.test(`${kind}: 5 MB blob both ways between two links`, async () => {
    const { server, a, b } = await linkPair(kind);
    const gotA: KernelMessage[] = [];
    const gotB: KernelMessage[] = [];
    const h = (into: KernelMessage[]) => ({
      onMessage: (km: KernelMessage) => into.push(km),
      onClose: () => {},
      print: () => {},
    });
    const ca = new PeerConnection(a, bob.name, h(gotA));
    const cb = new PeerConnection(b, alice.name, h(gotB));
    try {
      const blob = patternBlob(5 * 1024 * 1024);
      const km = {
        ...testKm(alice.name, bob.name, new Uint8Array([1])),
        lazyLoadBlob: { bytes: blob },
      };
      ca.send(km);
      cb.send({ ...km, source: km.target, target: km.source, id: 9n });
      await waitFor(() => gotA.length === 1 && gotB.length === 1, 10_000, "both blobs");
      assert(bytesEqual(gotB[0].lazyLoadBlob!.bytes, blob), "alice -> bob blob intact");
      assert(bytesEqual(gotA[0].lazyLoadBlob!.bytes, blob), "bob -> alice blob intact");
      assertEq(gotA[0].id, 9n, "id preserved");
    } finally {
      await ca.close();
      await cb.close();
      await server.close();
    }
  });

  Deno.test(`${kind}: messages sent while a large one is still going out arrive in call order`, async () => {
    const { server, a, b } = await linkPair(kind);
    const got: KernelMessage[] = [];
    const ca = new PeerConnection(a, bob.name, {
      onMessage: () => {},
      onClose: () => {},
      print: () => {},
    });
    const cb = new PeerConnection(b, alice.name, {
      onMessage: (km) => got.push(km),
      onClose: () => {},
      print: () => {},
    });
    try {
      const big1 = patternBlob(3 * 1024 * 1024 + 17);
      const big2 = randomBytes(2 * 1024 * 1024 + 5);
      const plan: { body: number; blob?: Uint8Array }[] = [
        { body: 1, blob: big1 },
        { body: 2 },
        { body: 3 },
        { body: 4, blob: big2 },
        { body: 5, blob: new Uint8Array(70_000).fill(5) }, // just over one chunk
        { body: 6 },
      ];
      // all sent in one synchronous run: the first is still being encrypted slice by slice
      plan.forEach((m, i) =>
        ca.send({
          ...testKm(alice.name, bob.name, new Uint8Array([m.body]), BigInt(i + 1)),
          lazyLoadBlob: m.blob ? { bytes: m.blob } : undefined,
        })
      );
      await waitFor(() => got.length === plan.length, 10_000, "all six messages");
      plan.forEach((m, i) => {
        const km = got[i];
        assertEq(km.id, BigInt(i + 1), `message ${i + 1} in order`);
        const body = km.message.tag === "request" ? km.message.val.body : undefined;
        assertEq(body?.[0], m.body, `body of message ${i + 1}`);
        if (m.blob) assert(bytesEqual(km.lazyLoadBlob!.bytes, m.blob), `blob ${i + 1} intact`);
        else assertEq(km.lazyLoadBlob, undefined, `message ${i + 1} has no blob`);
      });
    } finally {
      await ca.close();
      await cb.close();
      await server.close();
    }
  });

  Deno.test(`${kind}: a link releases every queued message's buffers, even once closed`, async () => {
    const { server, a, b } = await linkPair(kind);
    try {
      let sealed = 0;
      const framed = encodeKernelMessage(testKm(alice.name, bob.name, new Uint8Array([1])), 4);
      const tail = patternBlob(1024 * 1024);
      for (let i = 0; i < 3; i++) a.link.sendMessage(a.send, framed.slice(), tail, () => sealed++);
      await waitFor(() => sealed === 3, 5000, "three released while open");
      await a.link.close();
      a.link.sendMessage(a.send, framed.slice(), tail, () => sealed++);
      await waitFor(() => sealed === 4, 2000, "released after close");
    } finally {
      await a.link.close();
      await b.link.close();
      await server.close();
    }
  });

  Deno.test(`${kind}: a spoofed source node closes only that connection`, async () => {
    const { server, a, b } = await linkPair(kind);
    const closes: string[] = [];
    const got: KernelMessage[] = [];
    const cb = new PeerConnection(b, alice.name, {
      onMessage: (km) => got.push(km),
      onClose: (_c, r) => closes.push(r),
      print: () => {},
    });
    const ca = new PeerConnection(a, bob.name, {
      onMessage: () => {},
      onClose: () => {},
      print: () => {},
    });
    try {
      ca.send(testKm(alice.name, bob.name, new Uint8Array([1])));
      await waitFor(() => got.length === 1, 2000, "genuine message");
      ca.send(testKm("carol.os", bob.name, new Uint8Array([2])));
      await waitFor(() => closes.length === 1, 2000, "close on spoof");
      assert(closes[0].includes("spoofed source"), `closed for spoofing: ${closes[0]}`);
      assertEq(got.length, 1, "spoofed message not delivered");
      await waitFor(() => ca.isClosed, 2000, "other end sees the close");
    } finally {
      await ca.close();
      await cb.close();
      await server.close();
    }
  });
}

Deno.test("handshake: a responder whose key does not match the PKI is refused", async () => {
  let serverSide: Promise<unknown> | undefined;
  const impostor: LocalNode = { name: bob.name, networkingKey: seedFor("mallory") };
  const server = listenTcp("127.0.0.1", 0, (link) => {
    serverSide = (async () => {
      try {
        await respondHandshake(link, impostor, await link.recvRaw(), lookup);
      } catch {
        // alice hangs up
      } finally {
        await link.close();
      }
    })();
  });
  const link = await connectTcp("127.0.0.1", server.port);
  let refused = false;
  try {
    await initiateHandshake(link, alice, bobId);
  } catch (e) {
    refused = e instanceof HandshakeError;
  } finally {
    await link.close();
    await waitFor(() => serverSide !== undefined, 2000, "server side");
    await serverSide;
    await server.close();
  }
  assert(refused, "initiator rejects a bad responder signature");
});

Deno.test("ws: the server answers Ping with Pong and drops Text", async () => {
  const srv = collectingServer();
  const server = serveWs("127.0.0.1", 0, srv.onLink);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const reader = new RawReader(conn);
  try {
    const key = btoa("0123456789abcdef");
    await writeAll(
      conn,
      new TextEncoder().encode(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    let head = "";
    while (!head.endsWith("\r\n\r\n")) head += String.fromCharCode((await reader.exact(1))[0]);
    assert(head.startsWith("HTTP/1.1 101"), `upgraded: ${head.split("\r\n")[0]}`);
    // masked client Ping with payload "hi"
    const mask = [1, 2, 3, 4];
    const payload = [0x68, 0x69].map((b, i) => b ^ mask[i % 4]);
    await writeAll(conn, Uint8Array.of(0x89, 0x80 | 2, ...mask, ...payload));
    const frame = await reader.exact(2);
    assertEq(frame[0], 0x8a, "FIN + Pong opcode");
    const len = frame[1] & 0x7f;
    const body = await reader.exact(len);
    assertEq(new TextDecoder().decode(body), "hi", "pong echoes the ping payload");
    // a Text frame is not part of the protocol: the server sends Close
    const text = [0x78].map((b, i) => b ^ mask[i % 4]);
    await writeAll(conn, Uint8Array.of(0x81, 0x80 | 1, ...mask, ...text));
    const close = await reader.exact(2);
    assertEq(close[0], 0x88, "FIN + Close opcode after a Text frame");
    await waitFor(() => srv.closes.length === 1, 2000, "server gave up on the link");
  } finally {
    conn.close();
    await srv.shutdown();
    await server.close();
  }
});
