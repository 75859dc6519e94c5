// Buffer reuse on the bulk path: the encoder's scratch buffer, recycled frame and
// message buffers, and blobs decoded as views of the received message. Reuse must
// never let one message's bytes show up in another.

import {
  decodeKernelMessage,
  encodeKernelMessage,
  encodeKernelMessageParts,
} from "../../net/codec.ts";
import { CHUNK_PLAINTEXT, plaintextChunks } from "../../net/link.ts";
import { bufferStats, freshBuffer, returnBuffer, takeBuffer } from "../../net/buffers.ts";
import type { KernelMessage } from "../../wire/core.ts";
import { assert, assertEq, bytesEqual, randomBytes, testKm } from "./helpers.ts";

function blobKm(bytes: Uint8Array, id = 7n): KernelMessage {
  return { ...testKm("alice.os", "bob.os", new Uint8Array([9]), id), lazyLoadBlob: { bytes } };
}

Deno.test("buffers: scratch encoding writes the same bytes, with a zeroed prefix, call after call", () => {
  const a = randomBytes(300_000);
  const b = randomBytes(100_000);
  for (const binBytes of [false, true]) {
    const first = encodeKernelMessage(blobKm(a), 4, { binBytes, scratch: true });
    assert(
      bytesEqual(first, encodeKernelMessage(blobKm(a), 4, { binBytes })),
      `first scratch encode (bin ${binBytes})`,
    );
    first.fill(0xee); // a caller scribbling on it (as WS writes its length there)
    const second = encodeKernelMessage(blobKm(b, 8n), 4, { binBytes, scratch: true });
    assertEq([...second.subarray(0, 4)].join(","), "0,0,0,0", "reserved prefix zeroed again");
    assert(
      bytesEqual(second, encodeKernelMessage(blobKm(b, 8n), 4, { binBytes })),
      `second scratch encode reuses the buffer correctly (bin ${binBytes})`,
    );
  }
});

Deno.test("buffers: large bins decode as views only when asked; small ones are copied", () => {
  const big = randomBytes(200_000);
  const bytes = encodeKernelMessage(blobKm(big), 0, { binBytes: true });
  const opts = { viewBins: true, viewed: false };
  const km = decodeKernelMessage(bytes, opts);
  assert(opts.viewed, "a view was handed out");
  assert(km.lazyLoadBlob!.bytes.buffer === bytes.buffer, "the blob is a view of the message");
  assert(bytesEqual(km.lazyLoadBlob!.bytes, big), "and holds the blob");
  const body = km.message.tag === "request" ? km.message.val.body : undefined;
  assert(body !== undefined && body.buffer !== bytes.buffer, "the 1-byte body is a copy");

  const copied = decodeKernelMessage(bytes);
  assert(copied.lazyLoadBlob!.bytes.buffer !== bytes.buffer, "default: a copy");
  const small = encodeKernelMessage(blobKm(new Uint8Array(1000).fill(3)), 0, { binBytes: true });
  const o2 = { viewBins: true, viewed: false };
  decodeKernelMessage(small, o2);
  assert(!o2.viewed, "a 1000-byte bin is copied, so it cannot pin the message buffer");
});

Deno.test("buffers: takeBuffer recycles returned buffers of a similar size only", () => {
  const n = 1 << 20;
  const a = takeBuffer(n);
  assertEq(a.length, n, "size");
  returnBuffer(a);
  const recycled = bufferStats.recycled;
  const b = takeBuffer(n - 1000);
  assertEq(bufferStats.recycled, recycled + 1, "counted as recycled");
  assert(b.buffer === a.buffer, "a returned buffer of a similar size is reused");
  assertEq(b.length, n - 1000, "as a view of the asked length");
  returnBuffer(b);
  const c = takeBuffer(n / 4);
  assert(c.buffer !== a.buffer, "not for a request under half its size");
  const small = takeBuffer(1000);
  returnBuffer(small);
  assert(takeBuffer(1000).buffer !== small.buffer, "small buffers are not pooled");
  const f = freshBuffer(300_000);
  assert(f.every((x) => x === 0), "fresh buffers are zeroed");
});

Deno.test("buffers: a blob sent as bin is the tail after the head, not copied into it", () => {
  const blob = randomBytes(300_001);
  const parts = encodeKernelMessageParts(blobKm(blob), 4, true);
  assert(parts.tail === blob, "the tail is the blob itself");
  const whole = encodeKernelMessage(blobKm(blob), 4, { binBytes: true });
  assertEq(parts.head.length + blob.length, whole.length, "head + tail is the whole message");
  assert(bytesEqual(parts.head, whole.subarray(0, parts.head.length)), "head bytes");
  returnBuffer(parts.head);

  const strict = encodeKernelMessageParts(blobKm(blob), 4, false);
  assertEq(strict.tail, undefined, "Hyperdrive's int-array format is never split");
  assert(
    bytesEqual(strict.head, encodeKernelMessage(blobKm(blob), 4)),
    "and is the same bytes as encodeKernelMessage",
  );
  const none = encodeKernelMessageParts(testKm("alice.os", "bob.os", new Uint8Array([1])), 4, true);
  assertEq(none.tail, undefined, "no blob, no tail");
});

Deno.test("buffers: plaintextChunks cuts head + tail into full chunks, the last one short", () => {
  const size = 7;
  for (let h = 0; h <= 16; h++) {
    for (const t of [-1, 0, 1, 2, 6, 7, 8, 13, 14, 20]) {
      const head = randomBytes(h);
      const tail = t < 0 ? undefined : randomBytes(t);
      const chunks = [...plaintextChunks(head, tail, size)].map((c) => c.slice());
      const all = new Uint8Array(h + Math.max(t, 0));
      all.set(head);
      if (tail) all.set(tail, h);
      assertEq(chunks.length, Math.ceil(all.length / size), `chunk count (head ${h}, tail ${t})`);
      let at = 0;
      chunks.forEach((c, i) => {
        if (i < chunks.length - 1) assertEq(c.length, size, `full chunk (head ${h}, tail ${t})`);
        assert(bytesEqual(c, all.subarray(at, at + c.length)), `chunk ${i} (head ${h}, tail ${t})`);
        at += c.length;
      });
      assertEq(at, all.length, `all bytes (head ${h}, tail ${t})`);
    }
  }
  const head = randomBytes(100);
  const tail = randomBytes(3 * CHUNK_PLAINTEXT);
  const sizes = [...plaintextChunks(head, tail)].map((c) => c.length);
  assertEq(
    sizes.join(","),
    `${CHUNK_PLAINTEXT},${CHUNK_PLAINTEXT},${CHUNK_PLAINTEXT},100`,
    "real size",
  );
});
