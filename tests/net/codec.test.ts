// Exact bytes for representative values, each derived by hand from rmp-serde's
// default rules (see net/codec.ts header). Notation in the comments:
//   9N = fixarray of N, 8N = fixmap of N, aN/bN = fixstr of N bytes, c0 = nil,
//   c2/c3 = false/true, cc = u8, cd = u16 (big-endian), cf = u64, dc = array16,
//   d9 = str8. A Vec<u8> is an array of ints: bytes < 0x80 are one byte, others cc xx.

import {
  DecodeError,
  decodeHandshakePayload,
  decodeKernelMessage,
  decodeNetAction,
  decodeNetResponse,
  decodeRoutingRequest,
  encodeHandshakePayload,
  encodeHnsUpdate,
  encodeKernelMessage,
  encodeNetAction,
  encodeNetResponse,
  encodeRoutingRequest,
  MsgWriter,
} from "../../net/codec.ts";
import type { NetAction, NetResponse } from "../../wire/net.ts";
import { type KernelMessage, parseAddress } from "../../wire/core.ts";

/** Build expected bytes from hex fragments and literal strings. */
function bytes(...parts: (string | number[] | { s: string })[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") {
      for (const h of p.split(/\s+/).filter(Boolean)) out.push(parseInt(h, 16));
    } else if (Array.isArray(p)) out.push(...p);
    else out.push(...new TextEncoder().encode(p.s));
  }
  return Uint8Array.from(out);
}
const s = (str: string) => ({ s: str });
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string) {
  if (hex(actual) !== hex(expected)) {
    throw new Error(`${what}:\n  expected ${hex(expected)}\n  actual   ${hex(actual)}`);
  }
}

function assertEq(actual: unknown, expected: unknown, what: string) {
  // key order is not significant in the in-memory objects
  const fmt = (v: unknown) =>
    JSON.stringify(v, (_k, x) => {
      if (typeof x === "bigint") return `${x}n`;
      if (x instanceof Uint8Array) return `bytes:${hex(x)}`;
      if (x && typeof x === "object" && !Array.isArray(x)) {
        return Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : 1));
      }
      return x;
    });
  if (fmt(actual) !== fmt(expected)) {
    throw new Error(`${what}:\n  expected ${fmt(expected)}\n  actual   ${fmt(actual)}`);
  }
}

function assertThrows(f: () => unknown, what: string) {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeError) return;
    throw new Error(`${what}: threw a non-DecodeError ${e}`);
  }
  throw new Error(`${what}: did not throw`);
}

const requestKm: KernelMessage = {
  id: 300n,
  source: parseAddress("a@p:k:n"),
  target: parseAddress("b@p:k:n"),
  message: {
    tag: "request",
    val: {
      inherit: false,
      expectsResponse: 5n,
      body: Uint8Array.of(0x01, 0xff),
      metadata: undefined,
      capabilities: [],
    },
  },
};

// KernelMessage { id, source, target, rsvp, message, lazy_load_blob } -> array of 6
const requestKmBytes = bytes(
  "96",
  "cd 01 2c", // id 300 -> u16
  "a7",
  s("a@p:k:n"), // source: Address as its string
  "a7",
  s("b@p:k:n"), // target
  "c0", // rsvp: None
  "81 a7",
  s("Request"), // Message::Request(..) newtype variant -> { "Request": .. }
  "95", // Request { inherit, expects_response, body, metadata, capabilities }
  "c2", // inherit false
  "05", // expects_response Some(5)
  "92 01 cc ff", // body Vec<u8> [1, 255]
  "c0", // metadata None
  "90", // capabilities []
  "c0", // lazy_load_blob None
);

const responseKm: KernelMessage = {
  id: 0xffffffffffffffffn,
  source: parseAddress("b@p:k:n"),
  target: parseAddress("a@p:k:n"),
  rsvp: parseAddress("c@p:k:n"),
  message: {
    tag: "response",
    val: [
      {
        inherit: true,
        body: new Uint8Array(0),
        metadata: "{}",
        capabilities: [{
          issuer: parseAddress("n@k:d:s"),
          params: '"messaging"',
          signature: Uint8Array.of(0x80),
        }],
      },
      Uint8Array.of(7),
    ],
  },
  lazyLoadBlob: { mime: "t", bytes: Uint8Array.of(0x7f, 0x80) },
};

const responseKmBytes = bytes(
  "96",
  "cf ff ff ff ff ff ff ff ff", // id u64::MAX
  "a7",
  s("b@p:k:n"),
  "a7",
  s("a@p:k:n"),
  "a7",
  s("c@p:k:n"), // rsvp Some(address)
  "81 a8",
  s("Response"), // Message::Response((Response, Option<Context>))
  "92", // the tuple
  "94", // Response { inherit, body, metadata, capabilities }
  "c3", // inherit true
  "90", // body []
  "a2",
  s("{}"), // metadata Some("{}")
  "91", // Vec<(Capability, Vec<u8>)> with one entry
  "92", // (Capability, signature)
  "92 a7",
  s("n@k:d:s"), // Capability { issuer, params }
  "ab",
  s('"messaging"'),
  "91 cc 80", // signature [0x80]
  "91 07", // context Some([7])
  "92 a1",
  s("t"), // LazyLoadBlob { mime: Some("t"), bytes }
  "92 7f cc 80",
);

Deno.test("codec: KernelMessage request, exact bytes and back", () => {
  assertBytes(encodeKernelMessage(requestKm), requestKmBytes, "request encoding");
  assertEq(decodeKernelMessage(requestKmBytes), requestKm, "request decoding");
});

Deno.test("codec: KernelMessage response with rsvp, capability, context and blob", () => {
  assertBytes(encodeKernelMessage(responseKm), responseKmBytes, "response encoding");
  assertEq(decodeKernelMessage(responseKmBytes), responseKm, "response decoding");
});

Deno.test("codec: reserved prefix leaves the message bytes intact", () => {
  const framed = encodeKernelMessage(requestKm, 4);
  assertBytes(framed.subarray(0, 4), bytes("00 00 00 00"), "reserved prefix zeroed");
  assertBytes(framed.subarray(4), requestKmBytes, "message after the prefix");
});

const hns = {
  name: "n",
  public_key: "0x01",
  ips: ["1.2.3.4"],
  ports: { ws: 9000, tcp: 10000 },
  routers: [],
};

Deno.test("codec: NetAction variants", () => {
  const cases: [NetAction, Uint8Array][] = [
    // unit variants are their names
    [{ tag: "GetPeers" }, bytes("a8", s("GetPeers"))],
    [{ tag: "GetDiagnostics" }, bytes("ae", s("GetDiagnostics"))],
    [{ tag: "Sign" }, bytes("a4", s("Sign"))],
    // newtype variants are one-entry maps
    [{ tag: "GetPeer", name: "x" }, bytes("81 a7", s("GetPeer"), "a1", s("x"))],
    [{ tag: "ConnectionRequest", from: "x" }, bytes("81 b1", s("ConnectionRequest"), "a1", s("x"))],
    [
      { tag: "HnsUpdate", update: hns },
      bytes(
        "81 a9",
        s("HnsUpdate"),
        "95", // HnsUpdate { name, public_key, ips, ports, routers }
        "a1",
        s("n"),
        "a4",
        s("0x01"),
        "91 a7",
        s("1.2.3.4"),
        "82", // BTreeMap: "tcp" sorts before "ws"
        "a3",
        s("tcp"),
        "cd 27 10", // 10000
        "a2",
        s("ws"),
        "cd 23 28", // 9000
        "90",
      ),
    ],
    [
      { tag: "HnsBatchUpdate", updates: [] },
      bytes("81 ae", s("HnsBatchUpdate"), "90"),
    ],
    // struct variant: { "Verify": [from, signature] }
    [
      { tag: "Verify", from: parseAddress("a@p:k:n"), signature: Uint8Array.of(1, 2) },
      bytes("81 a6", s("Verify"), "92 a7", s("a@p:k:n"), "92 01 02"),
    ],
  ];
  for (const [action, expected] of cases) {
    assertBytes(encodeNetAction(action), expected, `encode ${JSON.stringify(action)}`);
    assertEq(decodeNetAction(expected), action, `decode ${hex(expected)}`);
  }
});

Deno.test("codec: NetResponse variants and Identity routing", () => {
  const direct = {
    name: "n",
    networking_key: "0x01",
    routing: { Direct: { ip: "1.2.3.4", ports: { ws: 9000 } } },
  };
  const routed = { name: "n", networking_key: "0x", routing: { Routers: ["r"] } };
  const cases: [NetResponse, Uint8Array][] = [
    ["Signed", bytes("a6", s("Signed"))],
    [{ Verified: true }, bytes("81 a8", s("Verified"), "c3")],
    [{ Peer: null }, bytes("81 a4", s("Peer"), "c0")],
    [
      { Peer: direct },
      bytes(
        "81 a4",
        s("Peer"),
        "93 a1",
        s("n"),
        "a4",
        s("0x01"), // Identity { name, networking_key, routing }
        "81 a6",
        s("Direct"),
        "92 a7",
        s("1.2.3.4"), // struct variant Direct { ip, ports }
        "81 a2",
        s("ws"),
        "cd 23 28",
      ),
    ],
    [
      { Peers: [routed] },
      bytes(
        "81 a5",
        s("Peers"),
        "91 93 a1",
        s("n"),
        "a2",
        s("0x"),
        "81 a7",
        s("Routers"),
        "91 a1",
        s("r"),
      ),
    ],
    [{ Rejected: "x" }, bytes("81 a8", s("Rejected"), "a1", s("x"))],
    [{ Diagnostics: "ok" }, bytes("81 ab", s("Diagnostics"), "a2", s("ok"))],
  ];
  for (const [response, expected] of cases) {
    assertBytes(encodeNetResponse(response), expected, `encode ${JSON.stringify(response)}`);
    assertEq(decodeNetResponse(expected), response, `decode ${hex(expected)}`);
  }
});

Deno.test("codec: HandshakePayload and RoutingRequest", () => {
  const sig = new Uint8Array(64).fill(0xab);
  const hs = { protocol_version: 1, name: "n", signature: sig, proxy_request: false };
  const hsBytes = bytes(
    "94 01 a1",
    s("n"),
    "dc 00 40", // 64 elements need array16
    Array.from({ length: 64 }, () => [0xcc, 0xab]).flat(),
    "c2",
  );
  assertBytes(encodeHandshakePayload(hs), hsBytes, "HandshakePayload");
  assertEq(decodeHandshakePayload(hsBytes), hs, "HandshakePayload decode");

  const rr = { protocol_version: 1, source: "s", signature: Uint8Array.of(0x10), target: "t" };
  const rrBytes = bytes("94 01 a1", s("s"), "91 10 a1", s("t"));
  assertBytes(encodeRoutingRequest(rr), rrBytes, "RoutingRequest");
  assertEq(decodeRoutingRequest(rrBytes), rr, "RoutingRequest decode");
});

Deno.test("codec: integer and string widths", () => {
  const w = new MsgWriter();
  w.uint(127).uint(128).uint(255).uint(256).uint(65535).uint(65536).uint(0xffffffff)
    .uint(0x100000000n);
  assertBytes(
    w.finish(),
    bytes(
      "7f cc 80 cc ff cd 01 00 cd ff ff ce 00 01 00 00 ce ff ff ff ff cf 00 00 00 01 00 00 00 00",
    ),
    "smallest uint encodings",
  );
  const str31 = "x".repeat(31);
  const str32 = "x".repeat(32);
  const str256 = "x".repeat(256);
  assertBytes(
    new MsgWriter().str(str31).finish().subarray(0, 1),
    bytes("bf"),
    "31-byte string is fixstr",
  );
  assertBytes(new MsgWriter().str(str32).finish().subarray(0, 2), bytes("d9 20"), "str8");
  assertBytes(new MsgWriter().str(str256).finish().subarray(0, 3), bytes("da 01 00"), "str16");
  assertBytes(
    encodeHnsUpdate({ ...hns, ports: {}, ips: [], routers: Array(16).fill("r") }).subarray(
      0,
      13,
    ),
    bytes("95 a1", s("n"), "a4", s("0x01"), "90 80 dc 00 10"),
    "16 routers need array16",
  );
});

Deno.test("codec: decoding is as lenient as rmp-serde", () => {
  // struct as a map keyed by field name, with an unknown field skipped
  const asMap = bytes(
    "85 a2",
    s("id"),
    "2a",
    "a6",
    s("source"),
    "a7",
    s("a@p:k:n"),
    "a6",
    s("target"),
    "a7",
    s("b@p:k:n"),
    "a5",
    s("extra"),
    "92 01 02",
    "a7",
    s("message"),
    "81 a7",
    s("Request"),
    "95 c2 c0 c4 02 01 ff c0 90", // body as bin8: accepted too
  );
  const km = decodeKernelMessage(asMap);
  assertEq(km.id, 42n, "id from map");
  assertEq(km.rsvp, undefined, "absent Option field is None");
  assertEq(km.message.tag === "request" && km.message.val.body, Uint8Array.of(1, 255), "bin body");
  // enum tag given as the variant index (3 = GetPeers), and trailing bytes ignored
  assertEq(decodeNetAction(bytes("03 ff ff")), { tag: "GetPeers" }, "variant index");
  assertEq(
    decodeNetAction(bytes("81 a4", s("Sign"), "c0")),
    { tag: "Sign" },
    "unit variant in map form",
  );
  // u16 port written as u32 still decodes
  assertEq(
    decodeNetAction(
      bytes("81 a9", s("HnsUpdate"), "95 a1 6e a0 90 81 a2", s("ws"), "ce 00 00 00 50 90"),
    ),
    {
      tag: "HnsUpdate",
      update: { name: "n", public_key: "", ips: [], ports: { ws: 80 }, routers: [] },
    },
    "wide int",
  );
});

Deno.test("codec: malformed input is a DecodeError", () => {
  assertThrows(() => decodeNetAction(new TextEncoder().encode("hello")), "hello body");
  assertThrows(() => decodeKernelMessage(requestKmBytes.subarray(0, 20)), "truncated");
  assertThrows(() => decodeKernelMessage(bytes("95 01")), "wrong field count");
  assertThrows(() => decodeKernelMessage(bytes("dd ff ff ff ff")), "huge array length");
  assertThrows(
    () => decodeKernelMessage(bytes("96 01 a3", s("bad"), "a3", s("bad"), "c0 c0 c0")),
    "bad address",
  );
  assertThrows(() => decodeNetAction(bytes("a4", s("Nope"))), "unknown variant");
  assertThrows(() => decodeNetAction(bytes("a7", s("GetPeer"))), "newtype without value");
  assertThrows(() => decodeHandshakePayload(bytes("94 01 a1 6e 91 cd 01 00 c2")), "byte > 255");
  assertThrows(
    () => decodeNetResponse(bytes("82 a6", s("Signed"), "c0 a6", s("Signed"), "c0")),
    "2-entry enum",
  );
});

Deno.test("codec: a 1 MB blob round-trips", () => {
  const blob = new Uint8Array(1 << 20);
  crypto.getRandomValues(blob.subarray(0, 65536));
  for (let i = 65536; i < blob.length; i++) blob[i] = (i * 131) & 0xff;
  const km: KernelMessage = { ...requestKm, lazyLoadBlob: { bytes: blob } };
  const encoded = encodeKernelMessage(km);
  const high = blob.reduce((n, b) => n + (b >= 0x80 ? 1 : 0), 0);
  // array32 header (5 bytes) + one byte per element + one extra per byte >= 0x80
  assertEq(encoded.length, requestKmBytes.length - 1 + 2 + 5 + blob.length + high, "size");
  const back = decodeKernelMessage(encoded);
  assertEq(back.lazyLoadBlob?.mime, undefined, "mime None");
  assertEq(hex(back.lazyLoadBlob!.bytes.subarray(0, 64)), hex(blob.subarray(0, 64)), "head");
  let same = back.lazyLoadBlob!.bytes.length === blob.length;
  for (let i = 0; same && i < blob.length; i++) same = back.lazyLoadBlob!.bytes[i] === blob[i];
  assertEq(same, true, "every byte intact");
});
