// The kernel <-> Worker transport: the binary codec, the shared-memory ring,
// and a real process Worker receiving and sending a mix of ring-sized and
// port-sized messages (and bursts bigger than the ring) in order; and a direct
// channel between two Workers (peer.ts), which uses the same pieces.

import { assert, assertEquals } from "../assert.ts";
import {
  decodeDelivery,
  decodeSends,
  encodeDelivery,
  encodeSends,
  Reader,
  Writer,
} from "../../kernel/process_host/codec.ts";
import { Ring } from "../../kernel/process_host/ring.ts";
import { ProcessHost } from "../../kernel/process_host/host.ts";
import type { OutgoingMessage } from "../../kernel/process_host/protocol.ts";
import {
  DELIVERED,
  fromWire,
  PEER_RING_BYTES,
  RING_BYTES,
  SIGNAL_BYTES,
  toWire,
} from "../../kernel/process_host/protocol.ts";
import { PeerInbox, PeerSender } from "../../kernel/process_host/peer.ts";
import type { KernelMessage } from "../../wire/core.ts";
import { parseAddress } from "../../wire/core.ts";
import { checksum, patternBlob } from "./helpers.ts";

const enc = new TextEncoder();

function roundTripDelivery(km: KernelMessage, at?: number) {
  const w = new Writer();
  assert(encodeDelivery(w, km, at), "encodable");
  const bytes = w.bytes.slice();
  return decodeDelivery(new Reader(bytes).at(0, bytes.length));
}

Deno.test("transport codec: a delivered message round-trips every field", () => {
  const km: KernelMessage = {
    id: 0xffff_ffff_ffff_ffffn,
    source: parseAddress("ünïcode.os@http-server:distro:sys"),
    target: parseAddress("fake.dev@app:pkg:pub.os"),
    rsvp: parseAddress("other.os@a:b:c.os"),
    message: {
      tag: "request",
      val: {
        inherit: true,
        expectsResponse: 30n,
        body: enc.encode('{"Http":{}}'),
        metadata: "meta ✓",
        capabilities: [
          { issuer: parseAddress("fake.dev@vfs:distro:sys"), params: '{"kind":"read"}' },
          {
            issuer: parseAddress("x.os@net:distro:sys"),
            params: '"network"',
            signature: new Uint8Array([1, 2, 3]),
          },
        ],
      },
    },
    lazyLoadBlob: { mime: "text/plain", bytes: patternBlob(5000, 7) },
  };
  assertEquals(roundTripDelivery(km, 1234.5), { t: "msg", km, at: 1234.5 });
  // a response with a context, no rsvp, a blob without mime, no `at`
  const resp: KernelMessage = {
    id: 0n,
    source: km.target,
    target: km.source,
    rsvp: undefined,
    message: {
      tag: "response",
      val: [
        { inherit: false, body: new Uint8Array(0), metadata: undefined, capabilities: [] },
        enc
          .encode("ctx"),
      ],
    },
    lazyLoadBlob: { mime: undefined, bytes: new Uint8Array(0) },
  };
  assertEquals(roundTripDelivery(resp), { t: "msg", km: resp, at: undefined });
  // one reader over one buffer, as over a ring: repeated strings come from
  // its cache and still match, and a changed string is not taken from it
  const w = new Writer();
  const buf = new Uint8Array(64 * 1024);
  const reader = new Reader(buf);
  for (const node of ["fake.dev", "fake.dev", "fake.dew", "fake.dev"]) {
    const km2 = { ...resp, source: { ...resp.source, node } };
    assert(encodeDelivery(w, km2, undefined));
    buf.set(w.bytes);
    assertEquals(decodeDelivery(reader.at(0, w.pos)).km, km2);
  }
});

Deno.test("transport codec: sends round-trip; what it cannot carry exactly is refused", () => {
  const target = parseAddress("fake.dev@app:pkg:pub.os");
  const msgs: OutgoingMessage[] = [
    {
      id: 5n,
      target,
      rsvp: undefined,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: undefined,
          body: enc.encode("a"),
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: undefined,
      at: undefined,
    },
    {
      id: 6n,
      target,
      rsvp: target,
      message: {
        tag: "response",
        val: [{ inherit: true, body: enc.encode("b"), metadata: "m", capabilities: [] }, undefined],
      },
      lazyLoadBlob: { mime: "x/y", bytes: enc.encode("blob") },
      at: 99,
    },
  ];
  const w = new Writer();
  assert(encodeSends(w, msgs));
  const bytes = w.bytes.slice();
  assertEquals(decodeSends(new Reader(bytes).at(0, bytes.length)), msgs);
  const bad = (patch: (m: OutgoingMessage) => void) => {
    const m = structuredClone(msgs[0]);
    patch(m);
    return encodeSends(w, [m]);
  };
  assertEquals(bad((m) => (m.id = -1n)), false);
  assertEquals(bad((m) => (m.id = 1n << 64n)), false);
  assertEquals(bad((m) => ((m.message.val as { body: unknown }).body = [1, 2])), false);
  assertEquals(bad((m) => ((m.message.val as { metadata: unknown }).metadata = null)), false);
  assertEquals(bad((m) => ((m.message as { tag: string }).tag = "other")), false);
  assertEquals(bad((m) => ((m.target as unknown) = null)), false);
  // a truncated record is an error, not garbage
  let threw = false;
  try {
    decodeSends(new Reader(bytes).at(0, bytes.length - 3));
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw, "truncated record throws RangeError");
});

Deno.test("transport ring: records in order across the wrap; full means refused", () => {
  const ring = Ring.create(1024);
  const reader = ring;
  let seq = 0;
  let expect = 0;
  const take = () => {
    const rec = reader.peek();
    if (!rec) return undefined;
    const payload = ring.bytes.slice(rec.offset, rec.offset + rec.length);
    reader.consume(rec.next);
    return { seq: rec.seq, payload };
  };
  // 100 rounds of mixed sizes force many wraps
  for (let round = 0; round < 100; round++) {
    const sizes = [1, 37, 100, 5, 0, 120].map((s) => (s + round) % 128);
    for (const size of sizes) {
      assert(ring.write(seq, patternBlob(size, seq)), `write ${seq}`);
      seq++;
    }
    for (const size of sizes) {
      const got = take();
      assert(got, `record ${expect}`);
      assertEquals(got.seq, expect);
      assertEquals(checksum(got.payload), checksum(patternBlob(size, expect)));
      expect++;
    }
    assertEquals(take(), undefined);
  }
  // fill it: the write that does not fit is refused and leaves the ring intact
  let n = 0;
  while (ring.write(seq + n, patternBlob(100, n))) n++;
  assert(n > 0 && n <= 1024 / 108, `wrote ${n}`);
  for (let i = 0; i < n; i++) assertEquals(take()?.seq, seq + i);
  assertEquals(take(), undefined);
});

// echoes every request back to its source as a request with the same body and blob
const ECHO = `
import { getBlob, receive, sendRequest } from "hyperware:process/standard@1.0.0";
export function init() {
  for (;;) {
    const [source, message] = receive();
    const v = message.val;
    sendRequest(source, { inherit: false, expectsResponse: undefined, body: v.body,
      metadata: v.metadata, capabilities: [] }, undefined, getBlob());
  }
}`;

Deno.test("transport: a Worker gets and answers ring and port messages in order", async () => {
  const our = parseAddress("fake.dev@echo:transport:test.os");
  const peer = parseAddress("fake.dev@peer:transport:test.os");
  const got: OutgoingMessage[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const N = 400;
  const host = new ProcessHost(our, {
    kind: "module",
    files: [{ source: ECHO, mediaType: "javascript", file: "/echo.js" }],
    file: "/echo.js",
  }, {
    tag: "none",
  }, {
    send: (_h, msgs) => {
      got.push(...msgs);
      if (got.length >= N) done();
    },
    print: () => {},
    call: () => Promise.resolve(undefined),
    exited: (_h, error) => {
      if (error) throw new Error(error);
    },
  });
  // sizes: small (ring), medium (ring, but a burst of them overflows it) and
  // large (always the port); all delivered in one synchronous burst
  const sizeOf = (i: number) =>
    i % 13 === 0 ? RING_BYTES : i % 5 === 0 ? (RING_BYTES >> 3) - 200 : i % 7;
  // a large blob arrives as a view into a bigger buffer (as net's received blobs
  // do): the kernel copies it for the worker and moves the copy; the sender's
  // buffer must stay intact
  const blobOf = (i: number) => {
    if (i % 13 !== 0) return patternBlob(sizeOf(i), i);
    const whole = new Uint8Array(sizeOf(i) + 100);
    whole.set(patternBlob(sizeOf(i), i), 100);
    return whole.subarray(100);
  };
  const sent: Uint8Array[] = [];
  host.run();
  for (let i = 0; i < N; i++) {
    const bytes = blobOf(i);
    sent.push(bytes);
    host.deliver({
      t: "msg",
      km: {
        id: BigInt(i),
        source: peer,
        target: our,
        message: {
          tag: "request",
          val: {
            inherit: false,
            expectsResponse: undefined,
            body: enc.encode(`m${i}`),
            metadata: i % 2 ? `meta${i}` : undefined,
            capabilities: [],
          },
        },
        lazyLoadBlob: { mime: undefined, bytes },
      },
    });
  }
  const timer = setTimeout(() => done(), 20_000);
  try {
    await finished;
  } finally {
    clearTimeout(timer);
    host.kill();
  }
  assertEquals(got.length, N);
  for (let i = 0; i < N; i++) {
    const m = got[i];
    assert(m.message.tag === "request");
    assertEquals(new TextDecoder().decode(m.message.val.body), `m${i}`);
    assertEquals(m.message.val.metadata, i % 2 ? `meta${i}` : undefined);
    assertEquals(m.target, peer);
    assertEquals(m.lazyLoadBlob?.bytes.length, sizeOf(i));
    assertEquals(checksum(m.lazyLoadBlob!.bytes), checksum(patternBlob(sizeOf(i), i)));
    assertEquals(sent[i].length, sizeOf(i), `blob ${i} still readable by the kernel side`);
    assertEquals(checksum(sent[i]), checksum(patternBlob(sizeOf(i), i)));
  }
});

Deno.test("transport: toWire moves only the large copies it made itself", () => {
  const whole = patternBlob(300_000, 1);
  const view = whole.subarray(10);
  const small = patternBlob(1000, 2).subarray(1);
  const moved: Transferable[] = [];
  const wire = toWire({ a: whole, b: view, c: [small] }, moved);
  assertEquals(moved.length, 1, "only the large view's copy is moved");
  assert(moved[0] === wire.b as unknown as ArrayBuffer, "and it is that copy");
  assert(wire.a as unknown as ArrayBuffer === whole.buffer, "a whole buffer is passed as is");
  assert(moved[0] !== whole.buffer, "the caller's own buffer is never moved");
  const back = fromWire(structuredClone(wire, { transfer: moved }));
  assertEquals(checksum(back.b), checksum(whole.subarray(10)), "copy content");
  assertEquals(whole.byteLength, 300_000, "caller's buffer intact");
  assertEquals(checksum(back.c[0]), checksum(small));
});

Deno.test("transport: a direct channel carries ring and port messages in order; garbage is refused", () => {
  const target = parseAddress("fake.dev@b:transport:test.os");
  const sab = Ring.create(PEER_RING_BYTES).sab;
  const signal = new SharedArrayBuffer(SIGNAL_BYTES);
  const { port1, port2 } = new MessageChannel();
  const sender = new PeerSender(sab, port1, signal);
  const inbox = new PeerInbox(sab, port2);
  const w = new Writer();
  // small (ring), just under the ring's record limit, over it (port), and a
  // burst of them with nothing taken, so the ring fills and the port takes over
  const sizeOf = (i: number) =>
    i % 11 === 0 ? PEER_RING_BYTES : i % 3 === 0 ? (PEER_RING_BYTES >> 3) - 200 : i % 5;
  const N = 300;
  for (let i = 0; i < N; i++) {
    sender.send(w, {
      id: BigInt(i),
      target,
      rsvp: undefined,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: i % 2 ? 5n : undefined,
          body: enc.encode(`m${i}`),
          metadata: undefined,
          capabilities: [],
        },
      },
      lazyLoadBlob: { mime: undefined, bytes: patternBlob(sizeOf(i), i) },
      at: i,
    });
  }
  const view = new Int32Array(signal);
  assertEquals(view[0], N, "each send bumps the wake counter");
  assertEquals(view[DELIVERED], N, "and counts a delivery");
  for (let i = 0; i < N; i++) {
    const m = inbox.take();
    assert(m !== undefined, `message ${i} arrives`);
    assert(m.message.tag === "request");
    assertEquals(new TextDecoder().decode(m.message.val.body), `m${i}`);
    assertEquals(m.message.val.expectsResponse, i % 2 ? 5n : undefined);
    assertEquals(m.at, i);
    assertEquals(checksum(m.lazyLoadBlob!.bytes), checksum(patternBlob(sizeOf(i), i)));
  }
  assertEquals(inbox.take(), undefined, "nothing more");
  // a record that does not decode (only a broken sender writes one) throws
  const ring = new Ring(sab);
  assert(ring.write(N, new Uint8Array([1, 0, 0, 0, 9])));
  let threw = false;
  try {
    inbox.take();
  } catch {
    threw = true;
  }
  assert(threw, "a malformed record throws");
  sender.close();
  inbox.close();
});
