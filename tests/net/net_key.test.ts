// Networking keys as hex (wire/net.ts): what the PKI's public_key strings hold.

import { netKeyFromHex, netKeyToHex, parseNetKey } from "../../wire/net.ts";
import { assert, assertEq, bytesEqual } from "./helpers.ts";

Deno.test("net key hex: written as 0x + lowercase, read with or without 0x, either case", () => {
  assertEq(netKeyToHex(Uint8Array.of(0x00, 0xab, 0xff)), "0x00abff", "0x and lowercase");
  assertEq(netKeyToHex(new Uint8Array(0)), "0x", "empty key");
  for (const s of ["0x00abff", "00abff", "0x00ABFF", "00AbFf"]) {
    assert(bytesEqual(parseNetKey(s), Uint8Array.of(0x00, 0xab, 0xff)), `parses ${s}`);
    assert(bytesEqual(netKeyFromHex(s), Uint8Array.of(0x00, 0xab, 0xff)), `reads ${s}`);
  }
  assertEq(parseNetKey("0x").length, 0, "bare 0x is empty");
  assertEq(parseNetKey("").length, 0, "empty string is empty");
  const key = crypto.getRandomValues(new Uint8Array(32));
  assert(bytesEqual(parseNetKey(netKeyToHex(key)), key), "round trip");
});

Deno.test("net key hex: not hex is a clear error, or empty bytes where Hyperdrive reads leniently", () => {
  // odd length, not hex digits, Hyperdrive's prefix is lowercase only, no whitespace
  for (const s of ["0x0", "0xzz", "zz", "0X00", " 00", "00 ", "0x0x00", "+1"]) {
    let message = "";
    try {
      parseNetKey(s);
    } catch (e) {
      message = (e as Error).message;
    }
    assertEq(
      message,
      `networking key ${JSON.stringify(s)} is not hex: an even number of 0-9, a-f, A-F digits`,
      `parseNetKey(${JSON.stringify(s)})`,
    );
    // as net_key_string_to_hex: empty bytes, which no signature verifies against
    assertEq(netKeyFromHex(s).length, 0, `netKeyFromHex(${JSON.stringify(s)})`);
  }
});
