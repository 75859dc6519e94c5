// hyperdeno's wire extensions (net/handshake.ts): two hyperdeno nodes agree in the
// handshake to send Vec<u8> as msgpack bin; anything that does not list the
// extension (Hyperdrive, or a node with wireExtensions: false) keeps getting
// rmp-serde's exact bytes, and the listing itself is invisible to rmp-serde.

import { decodeKernelMessage, encodeKernelMessage } from "../../net/codec.ts";
import { PeerConnection } from "../../net/connection.ts";
import {
  BIN_BYTES_EXTENSION,
  decodeExtensions,
  handshakeMessageBody,
  initiateHandshake,
  type LocalNode,
  respondHandshake,
  type Session,
} from "../../net/handshake.ts";
import type { Link } from "../../net/link.ts";
import { connectTcp, listenTcp } from "../../net/tcp.ts";
import type { Identity } from "../../wire/net.ts";
import type { KernelMessage } from "../../wire/core.ts";
import {
  assert,
  assertEq,
  bytesEqual,
  directIdentity,
  randomBytes,
  seedFor,
  testKm,
  waitFor,
} from "./helpers.ts";

const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

// handshakeMessageBody below, fed to a real rmp-serde 1.1.1 (Debian's crate, a
// throwaway program kept out of this repo) as
// rmp_serde::from_slice::<HandshakePayload> with Hyperdrive's field list
// (protocol_version: u8, name: String, signature: Vec<u8>, proxy_request: bool),
// read back as: 1 alice.os <the signature below> true. rmp-serde 1.3.0, which
// Hyperdrive locks, has the same from_slice (no check for trailing input).
const READ_BY_RMP_SERDE =
  "9401a8616c6963652e6f73dc00400b30557acc9fccc4cce90e33587dcca2ccc7ccec11365bcc80cca5cccaccef14395ecc83cca8cccdccf2173c61cc86ccabccd0ccf51a3f64cc89ccaeccd3ccf81d4267cc8cccb1ccd6ccfb20456acc8fccb4ccd9ccfe23486dcc92ccb7ccdc0126c381a9687970657264656e6f91a962696e2d6279746573";

Deno.test("wire extensions: the listing follows the payload, and rmp-serde reads the payload alone", () => {
  const signature = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
  const p = { protocol_version: 1, name: "alice.os", signature, proxy_request: true };
  const body = handshakeMessageBody(p, true);
  assertEq(toHex(body), READ_BY_RMP_SERDE, "bytes a real rmp-serde accepted");
  const plain = handshakeMessageBody(p, false);
  assert(bytesEqual(body.subarray(0, plain.length), plain), "payload bytes unchanged");
  assertEq(
    [...decodeExtensions(body.subarray(plain.length))].join(","),
    BIN_BYTES_EXTENSION,
    "the trailer lists bin-bytes",
  );
});

Deno.test("wire extensions: an empty, foreign or garbled trailer lists nothing", () => {
  assertEq(decodeExtensions(new Uint8Array(0)).size, 0, "empty");
  assertEq(decodeExtensions(new Uint8Array([0xc1, 0xff, 0x00])).size, 0, "garbage");
  // { "other": 1 }
  assertEq(
    decodeExtensions(new Uint8Array([0x81, 0xa5, 0x6f, 0x74, 0x68, 0x65, 0x72, 0x01])).size,
    0,
    "unknown key",
  );
  // the listing cut short
  const cut = handshakeMessageBody(
    { protocol_version: 1, name: "a.os", signature: new Uint8Array(64), proxy_request: false },
    true,
  );
  const plainLen = handshakeMessageBody(
    { protocol_version: 1, name: "a.os", signature: new Uint8Array(64), proxy_request: false },
    false,
  ).length;
  assertEq(decodeExtensions(cut.subarray(plainLen, cut.length - 3)).size, 0, "truncated");
});

Deno.test("wire extensions: bin-bytes writes every Vec<u8> as bin and decodes to the same message", () => {
  const blob = randomBytes(65536);
  const km: KernelMessage = {
    ...testKm("alice.os", "bob.os", new Uint8Array([1, 2, 0xff])),
    lazyLoadBlob: { mime: "application/octet-stream", bytes: blob },
  };
  const plain = encodeKernelMessage(km);
  const bin = encodeKernelMessage(km, 0, { binBytes: true });
  assert(bin.length < blob.length + 200, `bin form is about the blob's size (${bin.length})`);
  assert(plain.length > blob.length * 1.3, "rmp-serde's int array is ~1.5x for random bytes");
  // body [1, 2, 255] as bin8: c4 03 01 02 ff
  assert(toHex(bin).includes("c4030102ff"), "small body is bin8");
  // blob as bin32: c6 00 01 00 00 then the bytes
  const at = toHex(bin).indexOf("c600010000");
  assert(
    at >= 0 && bytesEqual(bin.subarray(at / 2 + 5, at / 2 + 5 + 16), blob.subarray(0, 16)),
    "blob is bin32",
  );
  const back = decodeKernelMessage(bin);
  assert(bytesEqual(encodeKernelMessage(back), plain), "decodes to the same message");
});

const nodeA: LocalNode = { name: "alice.os", networkingKey: seedFor("alice") };
const nodeB: LocalNode = { name: "bob.os", networkingKey: seedFor("bob") };
const pki = new Map<string, Identity>([
  [nodeA.name, directIdentity(nodeA.name, nodeA.networkingKey, { tcp: 1 })],
  [nodeB.name, directIdentity(nodeB.name, nodeB.networkingKey, { tcp: 1 })],
]);

async function connect(a: LocalNode, b: LocalNode) {
  let accepted: Promise<Session & { peer: Identity }> | undefined;
  const server = listenTcp("127.0.0.1", 0, (link: Link) => {
    accepted = (async () => respondHandshake(link, b, await link.recvRaw(), (n) => pki.get(n)))();
  });
  const link = await connectTcp("127.0.0.1", server.port);
  const sa = await initiateHandshake(link, a, pki.get(b.name)!);
  await waitFor(() => accepted !== undefined, 2000, "accept");
  const sb = await accepted!;
  const got: KernelMessage[][] = [[], []];
  const h = (i: number) => ({
    onMessage: (km: KernelMessage) => got[i].push(km),
    onClose: () => {},
    print: () => {},
  });
  const ca = new PeerConnection(sa, b.name, h(0));
  const cb = new PeerConnection(sb, a.name, h(1));
  return {
    ca,
    cb,
    got,
    async close() {
      await ca.close();
      await cb.close();
      await server.close();
    },
  };
}

for (
  const [label, a, b, expectBin] of [
    ["both hyperdeno", nodeA, nodeB, true],
    ["initiator without extensions", { ...nodeA, wireExtensions: false }, nodeB, false],
    ["responder without extensions", nodeA, { ...nodeB, wireExtensions: false }, false],
  ] as const
) {
  Deno.test(`wire extensions over TCP, ${label}: bin-bytes ${expectBin ? "on" : "off"} both ways, 3 different 2 MB blobs each way intact`, async () => {
    const p = await connect(a, b);
    try {
      assertEq(p.ca.binBytes, expectBin, "initiator's choice");
      assertEq(p.cb.binBytes, expectBin, "responder's choice");
      // distinct random blobs back to back, so a recycled buffer showing an
      // earlier message's bytes would be caught
      const blobs = [0, 1, 2].map(() => randomBytes(2 * 1024 * 1024));
      blobs.forEach((big, i) => {
        const km = {
          ...testKm(a.name, b.name, new Uint8Array([0x80, 0x7f]), BigInt(i + 1)),
          lazyLoadBlob: { bytes: big },
        };
        p.ca.send(km);
        p.cb.send({ ...km, id: BigInt(i + 11), source: km.target, target: km.source });
      });
      await waitFor(() => p.got[0].length === 3 && p.got[1].length === 3, 10_000, "all blobs");
      blobs.forEach((big, i) => {
        assert(bytesEqual(p.got[1][i].lazyLoadBlob!.bytes, big), `a -> b blob ${i} intact`);
        assert(bytesEqual(p.got[0][i].lazyLoadBlob!.bytes, big), `b -> a blob ${i} intact`);
      });
      const reply = p.got[0][0].message;
      assert(
        reply.tag === "request" && bytesEqual(reply.val.body, new Uint8Array([0x80, 0x7f])),
        "body intact",
      );
    } finally {
      await p.close();
    }
  });
}
