// KernelMessage and net types against bytes written by a real rmp-serde, not by
// hand: a small Rust program (kept out of this repo) declared structs and enums with
// the same fields, field order and variants as Hyperdrive's lib/src/core.rs,
// lib/src/kernel.rs, lib/src/net.rs and hyperdrive/src/net/types.rs (no serde
// attributes there; Address serialized as its display string, as lib/src/core.rs
// does), and printed rmp_serde::to_vec of each value below in hex. Built offline
// with Debian's librust-rmp-serde-dev 1.1.1; Hyperdrive locks rmp-serde 1.3.0, whose
// default config writes the same bytes (BytesMode::Normal: Vec<u8> stays an array).

import {
  decodeKernelMessage,
  decodeNetAction,
  decodeNetResponse,
  encodeHandshakePayload,
  encodeKernelMessage,
  encodeNetAction,
  encodeNetResponse,
  encodeRoutingRequest,
} from "../../net/codec.ts";
import type { HnsUpdate, Identity } from "../../wire/net.ts";
import { type KernelMessage, parseAddress } from "../../wire/core.ts";

const RMP_SERDE: Record<string, string> = {
  na_connreq: "81b1436f6e6e656374696f6e52657175657374a6626f622e6f73",
  na_hns: "81a9486e7355706461746595a8616c6963652e6f73a8307861626364656691a7312e322e332e3482" +
    "a3746370cd2710a27773cd232890",
  na_batch: "81ae486e7342617463685570646174659295a8616c6963652e6f73a8307861626364656691a7312e" +
    "322e332e3482a3746370cd2710a27773cd23289095a66976792e6f73a430783031908092a572312e" +
    "6f73a572322e6f73",
  na_getpeers: "a84765745065657273",
  na_getpeer: "81a747657450656572a6626f622e6f73",
  na_diag: "ae476574446961676e6f7374696373",
  na_sign: "a45369676e",
  na_verify: "81a656657269667992b7616c6963652e6f73406170703a706b673a7075622e6f73dc004000254a6f" +
    "cc94ccb9ccde03284d72cc97ccbccce1062b5075cc9accbfcce4092e5378cc9dccc2cce70c31567b" +
    "cca0ccc5ccea0f34597ecca3ccc8cced12375ccc81cca6cccbccf0153a5fcc84cca9ccceccf3183d" +
    "62cc87ccacccd1ccf61b",
  nr_acc: "81a84163636570746564a178",
  nr_rej: "81a852656a6563746564a6626f622e6f73",
  nr_peers: "81a550656572739393a8616c6963652e6f73a8307861626364656681a644697265637492a7312e32" +
    "2e332e3482a3746370cd2710a27773cd232893a66976792e6f73a43078303181a7526f7574657273" +
    "91a572312e6f7393a4622e6f73a081a4426f746893a33a3a3182a3746370cd2710a27773cd232891" +
    "a172",
  nr_peer_none: "81a450656572c0",
  nr_peer_some: "81a45065657293a8616c6963652e6f73a8307861626364656681a644697265637492a7312e322e33" +
    "2e3482a3746370cd2710a27773cd2328",
  nr_diag: "81ab446961676e6f7374696373d92864646464646464646464646464646464646464646464646464" +
    "646464646464646464646464646464",
  nr_signed: "a65369676e6564",
  nr_verified: "81a85665726966696564c3",
  hs: "9401a8616c6963652e6f73dc004000254a6fcc94ccb9ccde03284d72cc97ccbccce1062b5075cc9a" +
    "ccbfcce4092e5378cc9dccc2cce70c31567bcca0ccc5ccea0f34597ecca3ccc8cced12375ccc81cc" +
    "a6cccbccf0153a5fcc84cca9ccceccf3183d62cc87ccacccd1ccf61bc3",
  rr: "9401a8616c6963652e6f73dc004000254a6fcc94ccb9ccde03284d72cc97ccbccce1062b5075cc9a" +
    "ccbfcce4092e5378cc9dccc2cce70c31567bcca0ccc5ccea0f34597ecca3ccc8cced12375ccc81cc" +
    "a6cccbccf0153a5fcc84cca9ccceccf3183d62cc87ccacccd1ccf61ba66976792e6f73",
  km_req: "96cfab54a98ceb1f0ad2b7616c6963652e6f73406170703a706b673a7075622e6f73b5626f622e6f" +
    "73406e65743a64697374726f3a737973c081a75265717565737495c3ce00011170dc001800172e45" +
    "5c73cc8acca1ccb8cccfcce6ccfd142b425970cc87cc9eccb5cccccce3ccfa11a77b2261223a317d" +
    "919292b5626f622e6f73406e65743a64697374726f3a737973ab226d6573736167696e6722dc0040" +
    "00254a6fcc94ccb9ccde03284d72cc97ccbccce1062b5075cc9accbfcce4092e5378cc9dccc2cce7" +
    "0c31567bcca0ccc5ccea0f34597ecca3ccc8cced12375ccc81cca6cccbccf0153a5fcc84cca9ccce" +
    "ccf3183d62cc87ccacccd1ccf61b92c0dc001800172e455c73cc8acca1ccb8cccfcce6ccfd142b42" +
    "5970cc87cc9eccb5cccccce3ccfa11",
  km_resp: "96cf0000000100000000b5626f622e6f73406e65743a64697374726f3a737973b7616c6963652e6f" +
    "73406170703a706b673a7075622e6f73b9616c6963652e6f73406f746865723a706b673a7075622e" +
    "6f7381a8526573706f6e73659294c29361636bc09092ccc80192b86170706c69636174696f6e2f6f" +
    "637465742d73747265616d90",
  km_connreq: "9607b8726f757465722e6f73406e65743a64697374726f3a737973b56976792e6f73406e65743a64" +
    "697374726f3a737973c081a75265717565737495c205dc001ccc81ccb1436f6e6e656374696f6e52" +
    "657175657374cca8616c6963652e6f73c090c0",
};

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

// the values the Rust program serialized
const sig = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256);
const body = Uint8Array.from({ length: 24 }, (_, i) => (i * 23) % 256);
const ports = { ws: 9000, tcp: 10000 };
const hns: HnsUpdate = {
  name: "alice.os",
  public_key: "0xabcdef",
  ips: ["1.2.3.4"],
  ports,
  routers: [],
};
const hnsIndirect: HnsUpdate = {
  name: "ivy.os",
  public_key: "0x01",
  ips: [],
  ports: {},
  routers: ["r1.os", "r2.os"],
};
const direct: Identity = {
  name: "alice.os",
  networking_key: "0xabcdef",
  routing: { Direct: { ip: "1.2.3.4", ports } },
};
const routed: Identity = {
  name: "ivy.os",
  networking_key: "0x01",
  routing: { Routers: ["r1.os"] },
};
const both: Identity = {
  name: "b.os",
  networking_key: "",
  routing: { Both: { ip: "::1", ports, routers: ["r"] } },
};

const kernelMessages: Record<string, KernelMessage> = {
  km_req: {
    id: 12345678901234567890n,
    source: parseAddress("alice.os@app:pkg:pub.os"),
    target: parseAddress("bob.os@net:distro:sys"),
    message: {
      tag: "request",
      val: {
        inherit: true,
        expectsResponse: 70000n,
        body,
        metadata: '{"a":1}',
        capabilities: [{
          issuer: parseAddress("bob.os@net:distro:sys"),
          params: '"messaging"',
          signature: sig,
        }],
      },
    },
    lazyLoadBlob: { mime: undefined, bytes: body },
  },
  km_resp: {
    id: 4294967296n,
    source: parseAddress("bob.os@net:distro:sys"),
    target: parseAddress("alice.os@app:pkg:pub.os"),
    rsvp: parseAddress("alice.os@other:pkg:pub.os"),
    message: {
      tag: "response",
      val: [
        {
          inherit: false,
          body: new TextEncoder().encode("ack"),
          metadata: undefined,
          capabilities: [],
        },
        Uint8Array.of(200, 1),
      ],
    },
    lazyLoadBlob: { mime: "application/octet-stream", bytes: new Uint8Array(0) },
  },
  km_connreq: {
    id: 7n,
    source: parseAddress("router.os@net:distro:sys"),
    target: parseAddress("ivy.os@net:distro:sys"),
    message: {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: 5n,
        body: encodeNetAction({ tag: "ConnectionRequest", from: "alice.os" }),
        metadata: undefined,
        capabilities: [],
      },
    },
  },
};

const encoded: Record<string, () => Uint8Array> = {
  na_connreq: () => encodeNetAction({ tag: "ConnectionRequest", from: "bob.os" }),
  na_hns: () => encodeNetAction({ tag: "HnsUpdate", update: hns }),
  na_batch: () => encodeNetAction({ tag: "HnsBatchUpdate", updates: [hns, hnsIndirect] }),
  na_getpeers: () => encodeNetAction({ tag: "GetPeers" }),
  na_getpeer: () => encodeNetAction({ tag: "GetPeer", name: "bob.os" }),
  na_diag: () => encodeNetAction({ tag: "GetDiagnostics" }),
  na_sign: () => encodeNetAction({ tag: "Sign" }),
  na_verify: () =>
    encodeNetAction({
      tag: "Verify",
      from: parseAddress("alice.os@app:pkg:pub.os"),
      signature: sig,
    }),
  nr_acc: () => encodeNetResponse({ Accepted: "x" }),
  nr_rej: () => encodeNetResponse({ Rejected: "bob.os" }),
  nr_peers: () => encodeNetResponse({ Peers: [direct, routed, both] }),
  nr_peer_none: () => encodeNetResponse({ Peer: null }),
  nr_peer_some: () => encodeNetResponse({ Peer: direct }),
  nr_diag: () => encodeNetResponse({ Diagnostics: "d".repeat(40) }),
  nr_signed: () => encodeNetResponse("Signed"),
  nr_verified: () => encodeNetResponse({ Verified: true }),
  hs: () =>
    encodeHandshakePayload({
      protocol_version: 1,
      name: "alice.os",
      signature: sig,
      proxy_request: true,
    }),
  rr: () =>
    encodeRoutingRequest({
      protocol_version: 1,
      source: "alice.os",
      signature: sig,
      target: "ivy.os",
    }),
  km_req: () => encodeKernelMessage(kernelMessages.km_req),
  km_resp: () => encodeKernelMessage(kernelMessages.km_resp),
  km_connreq: () => encodeKernelMessage(kernelMessages.km_connreq),
};

Deno.test("codec: every value encodes to rmp_serde::to_vec's bytes", () => {
  const wrong: string[] = [];
  for (const [name, want] of Object.entries(RMP_SERDE)) {
    const got = hex(encoded[name]());
    if (got !== want) wrong.push(`${name}:\n  rmp-serde ${want}\n  ours      ${got}`);
  }
  if (wrong.length > 0) throw new Error(wrong.join("\n"));
});

Deno.test("codec: rmp-serde's bytes decode and re-encode unchanged", () => {
  for (const [name, want] of Object.entries(RMP_SERDE)) {
    const bytes = fromHex(want);
    let again: Uint8Array | undefined;
    if (name.startsWith("km_")) again = encodeKernelMessage(decodeKernelMessage(bytes));
    else if (name.startsWith("na_")) again = encodeNetAction(decodeNetAction(bytes));
    else if (name.startsWith("nr_")) again = encodeNetResponse(decodeNetResponse(bytes));
    else continue;
    if (hex(again) !== want) throw new Error(`${name} changed on the way back: ${hex(again)}`);
  }
});
