// ChaCha20-Poly1305 (RFC 8439) from node:crypto, which Deno runs natively.
//
// node:crypto is loaded through a non-literal specifier so that type-checking does
// not need @types/node (absent from node_modules); the few calls used are typed here.

interface AeadCipher {
  setAAD(aad: Uint8Array, opts: { plaintextLength: number }): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}

interface AeadDecipher {
  setAAD(aad: Uint8Array, opts: { plaintextLength: number }): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

interface NodeCryptoAead {
  createCipheriv(
    alg: "chacha20-poly1305",
    key: Uint8Array,
    nonce: Uint8Array,
    opts: { authTagLength: number },
  ): AeadCipher;
  createDecipheriv(
    alg: "chacha20-poly1305",
    key: Uint8Array,
    nonce: Uint8Array,
    opts: { authTagLength: number },
  ): AeadDecipher;
}

const NODE_CRYPTO: string = "node:crypto";
const nodeCrypto = (await import(NODE_CRYPTO)) as NodeCryptoAead;

export const AEAD_TAG_LEN = 16;

/** Encrypt: returns ciphertext || 16-byte tag. */
export function chachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_LEN);
  chachaSealInto(key, nonce, ad, plaintext, out, 0);
  return out;
}

/**
 * Encrypt into `dst` at `at` (ciphertext then tag) without an intermediate
 * buffer; returns the bytes written (plaintext.length + 16).
 */
export function chachaSealInto(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
  dst: Uint8Array,
  at: number,
): number {
  const cipher = nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
  // empty AD (every transport message) authenticates the same without the call
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  dst.set(body, at);
  let n = body.length;
  const tail = cipher.final();
  if (tail.length > 0) {
    dst.set(tail, at + n);
    n += tail.length;
  }
  dst.set(cipher.getAuthTag(), at + n);
  return n + AEAD_TAG_LEN;
}

/** Decrypt ciphertext || tag; returns undefined when authentication fails. */
export function chachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < AEAD_TAG_LEN) return undefined;
  const bodyLen = sealed.length - AEAD_TAG_LEN;
  const decipher = nodeCrypto.createDecipheriv("chacha20-poly1305", key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
  decipher.setAuthTag(sealed.subarray(bodyLen));
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: bodyLen });
  try {
    const body = decipher.update(sealed.subarray(0, bodyLen));
    const tail = decipher.final();
    if (tail.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length);
    const out = new Uint8Array(body.length + tail.length);
    out.set(body, 0);
    out.set(tail, body.length);
    return out;
  } catch {
    return undefined;
  }
}
