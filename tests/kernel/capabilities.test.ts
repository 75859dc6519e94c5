// Capability signatures: the kernel signs rmp_serde::to_vec(&Capability), written
// with the in-tree MsgWriter. The bytes, and so the signatures, must be exactly
// what the earlier @msgpack/msgpack encoding of [issuer, params] produced, or every
// persisted and remote signature would stop verifying.

import { encode as msgpackEncode } from "@msgpack/msgpack";
import { ed25519 } from "@noble/curves/ed25519.js";
import { assert, assertEquals } from "../assert.ts";
import { addressToString, type Capability, parseAddress } from "../../wire/core.ts";
import { capabilitySigningBytes } from "../../kernel/capabilities.ts";
import { Kernel } from "../../kernel/kernel.ts";
import { withTempDir } from "./helpers.ts";

/** What the kernel signed before: @msgpack/msgpack's encoding of the struct as a 2-array. */
function msgpackBytes(cap: Capability): Uint8Array {
  return msgpackEncode([addressToString(cap.issuer), cap.params]);
}

const ISSUER = parseAddress("fake.dev@vfs:distro:sys");
// params across every msgpack string length class: fixstr, str8, str16, str32, multi-byte UTF-8
const PARAMS = [
  "",
  '"messaging"',
  "x".repeat(31),
  "x".repeat(32),
  JSON.stringify({ kind: "read", drive: "/chat-app:pub.os/pkg" }),
  "y".repeat(255),
  "y".repeat(256),
  "z".repeat(65535),
  "z".repeat(65536),
  JSON.stringify({ name: "żółw 🐢 ünïcødé" }),
];
const CAPS: Capability[] = [
  ...PARAMS.map((params) => ({ issuer: ISSUER, params })),
  // a long issuer name: the address crosses the fixstr boundary too
  { issuer: parseAddress(`${"n".repeat(40)}.os@p:${"q".repeat(30)}:pub.os`), params: '"x"' },
];

Deno.test("capability signing bytes: identical to the @msgpack/msgpack encoding", () => {
  for (const cap of CAPS) {
    assertEquals(capabilitySigningBytes(cap), msgpackBytes(cap), cap.params.slice(0, 40));
  }
});

Deno.test("capability signatures: a fixed key signs as before; old signatures verify", async () => {
  await withTempDir(async (home) => {
    const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const kernel = new Kernel({
      our: "fake.dev",
      home,
      networkingKey: key,
      modules: [],
      print() {},
    });
    try {
      for (const cap of CAPS) {
        const before = ed25519.sign(msgpackBytes(cap), key);
        const signed = kernel.signCapability(cap);
        assertEquals(signed.signature, before, cap.params.slice(0, 40));
        assert(kernel.verifyCapability({ ...cap, signature: before }));
        // the signature covers the params and the issuer
        assert(!kernel.verifyCapability({ ...cap, params: `${cap.params} `, signature: before }));
        assert(
          !kernel.verifyCapability({
            issuer: parseAddress("other.dev@vfs:distro:sys"),
            params: cap.params,
            signature: before,
          }),
        );
      }
      assert(!kernel.verifyCapability({ ...CAPS[1], signature: new Uint8Array(63) }));
    } finally {
      await kernel.shutdown();
    }
  });
});
