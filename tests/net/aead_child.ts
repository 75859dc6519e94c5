// Checks net/aead.ts's into-buffer seal and open against node:crypto's public API.
// Imported by noise.test.ts (where `deno test` hides Deno's native cipher ops, so
// the fallback runs), and run as a `deno run` child, where the native path must be
// active: prints the result, exits non-zero on a failed check.

import { aeadWritesInPlace, chachaOpenInto, chachaSealInto } from "../../net/aead.ts";

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function assertEq(actual: unknown, expected: unknown, what: string) {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

// node:crypto through its public API only: what the into-buffer fast path must match
const NODE_CRYPTO: string = "node:crypto";
const nodeCrypto = (await import(NODE_CRYPTO)) as {
  createCipheriv(alg: string, key: Uint8Array, iv: Uint8Array, o: object): {
    setAAD(ad: Uint8Array, o: object): unknown;
    update(data: Uint8Array): Uint8Array;
    final(): Uint8Array;
    getAuthTag(): Uint8Array;
  };
};

function publicSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array) {
  const c = nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  if (ad.length > 0) c.setAAD(ad, { plaintextLength: pt.length });
  const body = c.update(pt);
  const tail = c.final();
  return toHex(body) + toHex(tail) + toHex(c.getAuthTag());
}

/** Throws unless sealing/opening into a buffer gives node:crypto's public-API bytes. */
export function checkAeadInto(): void {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  for (const len of [0, 1, 63, 64, 65, 1000, 65519]) {
    for (const ad of [new Uint8Array(0), Uint8Array.of(1, 2, 3)]) {
      const pt = crypto.getRandomValues(new Uint8Array(len));
      const dst = new Uint8Array(len + 16 + 10).fill(0xee);
      const n = chachaSealInto(key, nonce, ad, pt, dst, 5);
      assertEq(n, len + 16, `sealed length (${len})`);
      assertEq(toHex(dst.subarray(5, 5 + n)), publicSeal(key, nonce, ad, pt), `sealed (${len})`);
      assertEq(dst[4], 0xee, `byte before untouched (${len})`);
      assertEq(dst[5 + n], 0xee, `byte after untouched (${len})`);
      const sealed = dst.slice(5, 5 + n);
      const opened = new Uint8Array(len + 3).fill(0xee);
      assertEq(chachaOpenInto(key, nonce, ad, sealed, opened, 2), len, `opened length (${len})`);
      assertEq(toHex(opened.subarray(2, 2 + len)), toHex(pt), `opened (${len})`);
      assertEq(opened[1], 0xee, `byte before opened untouched (${len})`);
      for (const at of [0, n - 1]) {
        const forged = sealed.slice();
        forged[at] ^= 0x40;
        assertEq(
          chachaOpenInto(key, nonce, ad, forged, opened, 0),
          -1,
          `forged byte ${at} (${len})`,
        );
      }
    }
  }
  assertEq(
    chachaOpenInto(key, nonce, new Uint8Array(0), new Uint8Array(15), new Uint8Array(16), 0),
    -1,
    "shorter than a tag",
  );
  let threw = false;
  try {
    chachaSealInto(key, nonce, new Uint8Array(0), new Uint8Array(10), new Uint8Array(25), 0);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assertEq(threw, true, "seal into a too-small destination throws");
}

if (import.meta.main) {
  checkAeadInto();
  console.log(`into-buffer path: ${aeadWritesInPlace()}; checks passed`);
}
