// Noise_XX_25519_ChaChaPoly_BLAKE2s, the handshake Hyperdrive's net runs through
// the `snow` crate: X25519 and BLAKE2s from @noble, ChaCha20-Poly1305 from
// node:crypto via ./aead.ts (native, so bulk transport encryption stays fast).
//
// Only the XX pattern is implemented; Hyperdrive uses no prologue and no PSK.

import { x25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { chachaOpen, chachaOpenInto, chachaSeal, chachaSealInto } from "./aead.ts";

export const NOISE_PROTOCOL_NAME = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
export const DHLEN = 32;
export const HASHLEN = 32;
export const TAGLEN = 16;
/** Noise caps every handshake and transport message at 65535 bytes. */
export const NOISE_MAX_MESSAGE_LEN = 65535;

const EMPTY = new Uint8Array(0);

export class NoiseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoiseError";
  }
}

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  return keyPairFromPrivate(x25519.utils.randomSecretKey());
}

export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

function dh(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  try {
    return x25519.getSharedSecret(priv, pub);
  } catch {
    // low-order public key: the shared secret would be all zeros
    throw new NoiseError("invalid DH public key");
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Noise HKDF with HMAC-BLAKE2s, two outputs. */
function hkdf2(chainingKey: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const tempKey = hmac(blake2s, chainingKey, ikm);
  const out1 = hmac(blake2s, tempKey, Uint8Array.of(1));
  const out2 = hmac(blake2s, tempKey, concat(out1, Uint8Array.of(2)));
  return [out1, out2];
}

/** A Noise CipherState: ChaCha20-Poly1305 with a 64-bit little-endian counter nonce. */
export class CipherState {
  #key: Uint8Array | undefined;
  // counter kept as two u32 halves so it never loses precision
  #lo = 0;
  #hi = 0;
  readonly #nonce = new Uint8Array(12);
  readonly #nonceView = new DataView(this.#nonce.buffer);

  constructor(key?: Uint8Array) {
    if (key) this.initializeKey(key);
  }

  initializeKey(key: Uint8Array): void {
    this.#key = key.slice();
    this.#lo = 0;
    this.#hi = 0;
  }

  hasKey(): boolean {
    return this.#key !== undefined;
  }

  /** The next nonce this state will use (for tests and diagnostics). */
  get nonce(): bigint {
    return (BigInt(this.#hi) << 32n) | BigInt(this.#lo);
  }

  #takeNonce(): Uint8Array {
    if (this.#hi === 0xffffffff && this.#lo === 0xffffffff) {
      throw new NoiseError("nonce exhausted");
    }
    this.#nonceView.setUint32(4, this.#lo, true);
    this.#nonceView.setUint32(8, this.#hi, true);
    if (this.#lo === 0xffffffff) {
      this.#lo = 0;
      this.#hi++;
    } else {
      this.#lo++;
    }
    return this.#nonce;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.#key) return plaintext.slice();
    return chachaSeal(this.#key, this.#takeNonce(), ad, plaintext);
  }

  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.#key) return ciphertext.slice();
    // the nonce only advances once the tag checks out
    const savedLo = this.#lo;
    const savedHi = this.#hi;
    const plaintext = chachaOpen(this.#key, this.#takeNonce(), ad, ciphertext);
    if (plaintext === undefined) {
      this.#lo = savedLo;
      this.#hi = savedHi;
      throw new NoiseError("decryption failed");
    }
    return plaintext;
  }

  encrypt(plaintext: Uint8Array): Uint8Array {
    return this.encryptWithAd(EMPTY, plaintext);
  }

  /** encrypt() written straight into dst at `at`; returns the ciphertext length. */
  encryptInto(plaintext: Uint8Array, dst: Uint8Array, at: number): number {
    if (!this.#key) {
      dst.set(plaintext, at);
      return plaintext.length;
    }
    return chachaSealInto(this.#key, this.#takeNonce(), EMPTY, plaintext, dst, at);
  }

  decrypt(ciphertext: Uint8Array): Uint8Array {
    return this.decryptWithAd(EMPTY, ciphertext);
  }

  /**
   * decrypt() written straight into dst at `at`; returns the plaintext length.
   * On failure (NoiseError, nonce not advanced) dst's bytes there are garbage.
   */
  decryptInto(ciphertext: Uint8Array, dst: Uint8Array, at: number): number {
    if (!this.#key) {
      dst.set(ciphertext, at);
      return ciphertext.length;
    }
    const savedLo = this.#lo;
    const savedHi = this.#hi;
    const n = chachaOpenInto(this.#key, this.#takeNonce(), EMPTY, ciphertext, dst, at);
    if (n < 0) {
      this.#lo = savedLo;
      this.#hi = savedHi;
      throw new NoiseError("decryption failed");
    }
    return n;
  }
}

class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  readonly cipher = new CipherState();

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN);
      this.h.set(name);
    } else {
      this.h = blake2s(name);
    }
    this.ck = this.h.slice();
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf2(this.ck, ikm);
    this.ck = ck;
    this.cipher.initializeKey(tempK);
  }

  mixHash(data: Uint8Array): void {
    this.h = blake2s(concat(this.h, data));
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return pt;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf2(this.ck, EMPTY);
    return [new CipherState(k1), new CipherState(k2)];
  }
}

export interface HandshakeOptions {
  initiator: boolean;
  /** Our static X25519 key pair (Hyperdrive makes a fresh one per connection). */
  staticKeyPair?: KeyPair;
  /** Fixed ephemeral private key: test vectors only. */
  ephemeralPrivateKey?: Uint8Array;
  prologue?: Uint8Array;
}

/** Transport ciphers after the handshake: one to send with, one to receive with. */
export interface TransportCiphers {
  send: CipherState;
  recv: CipherState;
  handshakeHash: Uint8Array;
  remoteStatic: Uint8Array;
}

/**
 * XX:  -> e
 *      <- e, ee, s, es
 *      -> s, se
 */
export class HandshakeState {
  readonly initiator: boolean;
  readonly #ss = new SymmetricState(NOISE_PROTOCOL_NAME);
  readonly #s: KeyPair;
  #e: KeyPair | undefined;
  readonly #fixedEphemeral: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #step = 0;

  constructor(opts: HandshakeOptions) {
    this.initiator = opts.initiator;
    this.#s = opts.staticKeyPair ?? generateKeyPair();
    this.#fixedEphemeral = opts.ephemeralPrivateKey;
    this.#ss.mixHash(opts.prologue ?? EMPTY);
  }

  get localStaticPublicKey(): Uint8Array {
    return this.#s.publicKey;
  }

  get remoteStaticPublicKey(): Uint8Array | undefined {
    return this.#rs;
  }

  get handshakeHash(): Uint8Array {
    return this.#ss.h.slice();
  }

  /** True once all three messages have gone by. */
  get isFinished(): boolean {
    return this.#step === 3;
  }

  /** Whether the next message is ours to write. */
  get isMyTurn(): boolean {
    return this.initiator ? this.#step !== 1 : this.#step === 1;
  }

  #newEphemeral(): KeyPair {
    return this.#fixedEphemeral ? keyPairFromPrivate(this.#fixedEphemeral) : generateKeyPair();
  }

  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    if (this.#step >= 3 || !this.isMyTurn) throw new NoiseError("not our turn to write");
    const parts: Uint8Array[] = [];
    const ss = this.#ss;
    if (this.#step === 0) {
      // -> e
      this.#e = this.#newEphemeral();
      parts.push(this.#e.publicKey);
      ss.mixHash(this.#e.publicKey);
    } else if (this.#step === 1) {
      // <- e, ee, s, es
      this.#e = this.#newEphemeral();
      parts.push(this.#e.publicKey);
      ss.mixHash(this.#e.publicKey);
      ss.mixKey(dh(this.#e.privateKey, this.#re!));
      parts.push(ss.encryptAndHash(this.#s.publicKey));
      ss.mixKey(dh(this.#s.privateKey, this.#re!));
    } else {
      // -> s, se
      parts.push(ss.encryptAndHash(this.#s.publicKey));
      ss.mixKey(dh(this.#s.privateKey, this.#re!));
    }
    parts.push(ss.encryptAndHash(payload));
    this.#step++;
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total > NOISE_MAX_MESSAGE_LEN) throw new NoiseError("handshake message too long");
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  readMessage(message: Uint8Array): Uint8Array {
    if (this.#step >= 3 || this.isMyTurn) throw new NoiseError("not our turn to read");
    if (message.length > NOISE_MAX_MESSAGE_LEN) throw new NoiseError("handshake message too long");
    const ss = this.#ss;
    let off = 0;
    const take = (n: number): Uint8Array => {
      if (message.length - off < n) throw new NoiseError("handshake message too short");
      const part = message.subarray(off, off + n);
      off += n;
      return part;
    };
    const keyLen = () => DHLEN + (ss.cipher.hasKey() ? TAGLEN : 0);
    if (this.#step === 0) {
      // responder reads: e
      this.#re = take(DHLEN).slice();
      ss.mixHash(this.#re);
    } else if (this.#step === 1) {
      // initiator reads: e, ee, s, es
      this.#re = take(DHLEN).slice();
      ss.mixHash(this.#re);
      ss.mixKey(dh(this.#e!.privateKey, this.#re));
      this.#rs = ss.decryptAndHash(take(keyLen()));
      ss.mixKey(dh(this.#e!.privateKey, this.#rs));
    } else {
      // responder reads: s, se
      this.#rs = ss.decryptAndHash(take(keyLen()));
      ss.mixKey(dh(this.#e!.privateKey, this.#rs));
    }
    const payload = ss.decryptAndHash(message.subarray(off));
    this.#step++;
    return payload;
  }

  /** Split into transport ciphers: the initiator sends with the first, the responder with the second. */
  intoTransport(): TransportCiphers {
    if (!this.isFinished) throw new NoiseError("handshake not finished");
    const [c1, c2] = this.#ss.split();
    return {
      send: this.initiator ? c1 : c2,
      recv: this.initiator ? c2 : c1,
      handshakeHash: this.handshakeHash,
      remoteStatic: this.#rs!,
    };
  }
}
