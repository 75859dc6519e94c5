// ChaCha20-Poly1305 (RFC 8439) from node:crypto, which Deno runs natively.
//
// node:crypto is loaded through a non-literal specifier so that type-checking does
// not need @types/node (absent from node_modules); the few calls used are typed here.
//
// Bulk path: node:crypto's update() returns a fresh Buffer per call, which the
// caller then copies into its frame (seal) or message (open); on the 4 MiB bulk
// path that allocation and copy cost about as much as a third of the cipher
// itself. Deno's update() is a thin wrapper over one native op that encrypts from
// an input view into an output view. When that op is reachable (Deno's internal
// core ops, checked once at load against the public API on a fixed input), the
// body is encrypted or decrypted straight into the caller's buffer; the cipher
// object, its final() and the tag (computed and checked natively) stay the public
// ones. Otherwise every call takes the public update() path.

interface AeadCipher {
  /** Deno's native cipher context (an internal, checked before use). */
  _context?: unknown;
  setAAD(aad: Uint8Array, opts: { plaintextLength: number }): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}

interface AeadDecipher {
  _context?: unknown;
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

/** (context, input, output) -> false when the context refuses the data. */
type IntoOp = (context: unknown, input: Uint8Array, output: Uint8Array) => boolean;

function nativeOps(): { encrypt: IntoOp; decrypt: IntoOp } | undefined {
  try {
    const deno = Deno as unknown as Record<symbol, { core?: { ops?: Record<string, unknown> } }>;
    const internal = (Deno as unknown as { internal?: symbol }).internal;
    const ops = internal === undefined ? undefined : deno[internal]?.core?.ops;
    const encrypt = ops?.op_node_cipheriv_encrypt;
    const decrypt = ops?.op_node_decipheriv_decrypt;
    if (typeof encrypt !== "function" || typeof decrypt !== "function") return undefined;
    return { encrypt: encrypt as IntoOp, decrypt: decrypt as IntoOp };
  } catch {
    return undefined;
  }
}

/** The native into-buffer ops, if present and agreeing with the public API. */
let into = nativeOps();

function newCipher(key: Uint8Array, nonce: Uint8Array): AeadCipher {
  return nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
}

function newDecipher(key: Uint8Array, nonce: Uint8Array): AeadDecipher {
  return nodeCrypto.createDecipheriv("chacha20-poly1305", key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
}

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
  if (dst.length - at < plaintext.length + AEAD_TAG_LEN) {
    throw new RangeError("chachaSealInto: destination too small");
  }
  const cipher = newCipher(key, nonce);
  // empty AD (every transport message) authenticates the same without the call
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  let n: number;
  if (into !== undefined && plaintext.length > 0) {
    if (!into.encrypt(cipher._context, plaintext, dst.subarray(at, at + plaintext.length))) {
      throw new Error("chacha20-poly1305: encryption refused");
    }
    n = plaintext.length;
  } else {
    const body = cipher.update(plaintext);
    dst.set(body, at);
    n = body.length;
  }
  const tail = cipher.final();
  if (tail.length > 0) {
    dst.set(tail, at + n);
    n += tail.length;
  }
  dst.set(cipher.getAuthTag(), at + n);
  return n + AEAD_TAG_LEN;
}

/**
 * Decrypt ciphertext || tag into `dst` at `at`; returns the plaintext length, or
 * -1 when authentication fails (bytes written to dst are then garbage).
 */
export function chachaOpenInto(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: Uint8Array,
  dst: Uint8Array,
  at: number,
): number {
  if (sealed.length < AEAD_TAG_LEN) return -1;
  const bodyLen = sealed.length - AEAD_TAG_LEN;
  if (dst.length - at < bodyLen) throw new RangeError("chachaOpenInto: destination too small");
  if (into === undefined || bodyLen === 0) {
    const plaintext = chachaOpen(key, nonce, ad, sealed);
    if (plaintext === undefined) return -1;
    dst.set(plaintext, at);
    return plaintext.length;
  }
  const decipher = newDecipher(key, nonce);
  decipher.setAuthTag(sealed.subarray(bodyLen));
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: bodyLen });
  try {
    if (
      !into.decrypt(decipher._context, sealed.subarray(0, bodyLen), dst.subarray(at, at + bodyLen))
    ) {
      return -1;
    }
    // checks the tag; chacha20-poly1305 has no block tail to return
    if (decipher.final().length !== 0) return -1;
    return bodyLen;
  } catch {
    return -1;
  }
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
  const decipher = newDecipher(key, nonce);
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

/** Whether sealing and opening write straight into the caller's buffer (diagnostics). */
export function aeadWritesInPlace(): boolean {
  return into !== undefined;
}

/** Use the native into-buffer ops only if they give the public API's bytes. */
function selfTest(): void {
  if (into === undefined) return;
  try {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => 100 + i);
    const ad = Uint8Array.of(1, 2, 3);
    const plaintext = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    const fast = new Uint8Array(plaintext.length + AEAD_TAG_LEN + 8);
    const n = chachaSealInto(key, nonce, ad, plaintext, fast, 8);
    const fastSealed = fast.subarray(8, 8 + n);
    const saved = into;
    into = undefined;
    const slow = chachaSeal(key, nonce, ad, plaintext);
    into = saved;
    let same = n === slow.length;
    for (let i = 0; same && i < n; i++) same = fastSealed[i] === slow[i];
    const opened = new Uint8Array(plaintext.length);
    same &&= chachaOpenInto(key, nonce, ad, slow, opened, 0) === plaintext.length;
    for (let i = 0; same && i < plaintext.length; i++) same = opened[i] === plaintext[i];
    const forged = slow.slice();
    forged[0] ^= 1;
    same &&= chachaOpenInto(key, nonce, ad, forged, opened, 0) === -1;
    if (!same) into = undefined;
  } catch {
    into = undefined;
  }
}
selfTest();
