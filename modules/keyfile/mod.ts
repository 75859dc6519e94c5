// The node's keyfile (`<home>/.keys`): networking key, JWT secret and file key,
// each sealed with AES-256-GCM under a key derived from the password hash, in
// the on-disk format Hyperdrive reads and writes, so a keyfile moves between
// the two clients. Layout (JSON array):
//   [username, routers, salt(32), nonce(12)||ct||tag, nonce||ct||tag, nonce||ct||tag]
// Disk key = PBKDF2-HMAC-SHA256(password_hash utf-8, salt, 1_000_000 iterations, 32 bytes).
// password_hash = "0x" + hex(argon2id(password, salt = node name padded to >= 8 chars)).

import { ed25519 } from "@noble/curves/ed25519.js";
import { argon2id } from "hash-wasm";

/** The keyfile's name in the node home. */
export const KEYFILE_NAME = ".keys";
/** PBKDF2-HMAC-SHA256 rounds deriving the disk key from the password hash. */
export const PBKDF2_ITERATIONS = 1_000_000;
const SALT_LEN = 32;
const NONCE_LEN = 12;
const TAG_LEN = 16;

/** Argon2id parameters: argon2 crate's defaults, which the login page also uses. */
export const ARGON2_PARAMS = {
  iterations: 2,
  memorySize: 19456,
  parallelism: 1,
  hashLength: 32,
} as const;

/** A decrypted keyfile. */
export interface Keyfile {
  /** The node name the keyfile belongs to. */
  username: string;
  /** The node's routers (empty for a direct node). */
  routers: string[];
  /** Ed25519 key as a PKCS#8 v2 document (seed and public key), as ring stores it. */
  networkingKeyPkcs8: Uint8Array;
  /** HMAC key of the login JWTs http-server issues. */
  jwtSecret: Uint8Array;
  /** Key for encrypting files at rest (kept for Hyperdrive's format). */
  fileKey: Uint8Array;
}

/** Error messages are Hyperdrive's, so the login page shows the same text. */
export class KeyfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyfileError";
  }
}

// ---------------------------------------------------------------------------
// Ed25519 PKCS#8 (v2 as ring generates: version 1, key, [1] public key)

const PKCS8_V2_PREFIX = Uint8Array.fromHex("3053020101300506032b657004220420");
const PKCS8_V2_MIDDLE = Uint8Array.fromHex("a123032100");
const PKCS8_V1_PREFIX = Uint8Array.fromHex("302e020100300506032b657004220420");

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The PKCS#8 v2 document of an Ed25519 seed, byte for byte as ring writes it. */
export function pkcs8FromEd25519Seed(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new KeyfileError("ed25519 seed must be 32 bytes");
  const pub = ed25519.getPublicKey(seed);
  const out = new Uint8Array(85);
  out.set(PKCS8_V2_PREFIX, 0);
  out.set(seed, 16);
  out.set(PKCS8_V2_MIDDLE, 48);
  out.set(pub, 53);
  return out;
}

/** Seed and public key from a PKCS#8 v2 (or v1) Ed25519 document; checks the pair. */
export function ed25519FromPkcs8(doc: Uint8Array): { seed: Uint8Array; publicKey: Uint8Array } {
  if (doc.length === 85 && bytesEqual(doc.subarray(0, 16), PKCS8_V2_PREFIX)) {
    if (!bytesEqual(doc.subarray(48, 53), PKCS8_V2_MIDDLE)) {
      throw new KeyfileError("failed to parse networking keys");
    }
    const seed = doc.slice(16, 48);
    const publicKey = ed25519.getPublicKey(seed);
    if (!bytesEqual(publicKey, doc.subarray(53, 85))) {
      throw new KeyfileError("failed to parse networking keys");
    }
    return { seed, publicKey };
  }
  if (doc.length === 48 && bytesEqual(doc.subarray(0, 16), PKCS8_V1_PREFIX)) {
    const seed = doc.slice(16, 48);
    return { seed, publicKey: ed25519.getPublicKey(seed) };
  }
  throw new KeyfileError("failed to parse networking keys");
}

// ---------------------------------------------------------------------------
// Password hashing (the browser does the same on the login page)

/** The node name, repeated until it is at least 8 characters long. */
export function passwordSalt(nodeName: string): string {
  const min = 8;
  if (nodeName.length === 0) throw new KeyfileError("node name must not be empty");
  return nodeName.length >= min ? nodeName : nodeName.repeat(1 + Math.floor(min / nodeName.length));
}

/** "0x" + hex(argon2id(password)), the `password_hash` the login page posts. */
export async function hashPassword(password: string, nodeName: string): Promise<string> {
  const hex = await argon2id({
    password,
    salt: passwordSalt(nodeName),
    ...ARGON2_PARAMS,
    outputType: "hex",
  });
  return `0x${hex}`;
}

// ---------------------------------------------------------------------------
// Encoding and decoding

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(new ArrayBuffer(n)));
}

async function deriveDiskKey(passwordHash: string, salt: Uint8Array): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(passwordHash),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations: PBKDF2_ITERATIONS },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

// WebCrypto's AES-GCM output is ciphertext||tag, as the aes-gcm crate's.
async function seal(key: CryptoKey, plaintext: Uint8Array): Promise<Uint8Array> {
  const nonce = randomBytes(NONCE_LEN);
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, plaintext as BufferSource),
  );
  const out = new Uint8Array(NONCE_LEN + ct.length);
  out.set(nonce, 0);
  out.set(ct, NONCE_LEN);
  return out;
}

async function open(key: CryptoKey, sealed: Uint8Array, what: string): Promise<Uint8Array> {
  if (sealed.length < NONCE_LEN + TAG_LEN) throw new KeyfileError(`failed to decrypt ${what}`);
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: sealed.subarray(0, NONCE_LEN) as BufferSource },
        key,
        sealed.subarray(NONCE_LEN) as BufferSource,
      ),
    );
  } catch {
    throw new KeyfileError(`failed to decrypt ${what}`);
  }
}

/** A fresh keyfile: new Ed25519 networking key, 32-byte JWT secret and file key. */
export function generateKeyfile(username: string, routers: string[] = []): Keyfile {
  const seed = ed25519.utils.randomSecretKey();
  return {
    username,
    routers,
    networkingKeyPkcs8: pkcs8FromEd25519Seed(seed),
    jwtSecret: randomBytes(32),
    fileKey: randomBytes(32),
  };
}

/** Encrypts a keyfile under a password hash (fresh salt and nonces): the bytes on disk. */
export async function encodeKeyfile(kf: Keyfile, passwordHash: string): Promise<Uint8Array> {
  const salt = randomBytes(SALT_LEN);
  const key = await deriveDiskKey(passwordHash, salt);
  const tuple = [
    kf.username,
    kf.routers,
    Array.from(salt),
    Array.from(await seal(key, kf.networkingKeyPkcs8)),
    Array.from(await seal(key, kf.jwtSecret)),
    Array.from(await seal(key, kf.fileKey)),
  ];
  return new TextEncoder().encode(JSON.stringify(tuple));
}

interface RawKeyfile {
  username: string;
  routers: string[];
  salt: Uint8Array;
  keyEnc: Uint8Array;
  jwtEnc: Uint8Array;
  fileEnc: Uint8Array;
}

function isByteArray(v: unknown): v is number[] {
  return Array.isArray(v) &&
    v.every((n) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 255);
}

function parseJsonKeyfile(bytes: Uint8Array): RawKeyfile | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 6) return undefined;
  const [username, routers, salt, keyEnc, jwtEnc, fileEnc] = v;
  if (typeof username !== "string") return undefined;
  if (!Array.isArray(routers) || !routers.every((r) => typeof r === "string")) return undefined;
  if (![salt, keyEnc, jwtEnc, fileEnc].every(isByteArray)) return undefined;
  return {
    username,
    routers,
    salt: Uint8Array.from(salt),
    keyEnc: Uint8Array.from(keyEnc),
    jwtEnc: Uint8Array.from(jwtEnc),
    fileEnc: Uint8Array.from(fileEnc),
  };
}

/** Older Hyperdrive keyfiles are bincode 1 (u64 little-endian length prefixes). */
function parseBincodeKeyfile(bytes: Uint8Array): RawKeyfile | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  const len = (): number => {
    if (off + 8 > bytes.length) throw new Error("short");
    const n = view.getBigUint64(off, true);
    off += 8;
    if (n > BigInt(bytes.length)) throw new Error("long");
    return Number(n);
  };
  const raw = (): Uint8Array => {
    const n = len();
    if (off + n > bytes.length) throw new Error("short");
    const out = bytes.slice(off, off + n);
    off += n;
    return out;
  };
  const str = (): string => new TextDecoder("utf-8", { fatal: true }).decode(raw());
  try {
    const username = str();
    const count = len();
    const routers: string[] = [];
    for (let i = 0; i < count; i++) routers.push(str());
    const out = { username, routers, salt: raw(), keyEnc: raw(), jwtEnc: raw(), fileEnc: raw() };
    return off === bytes.length ? out : undefined;
  } catch {
    return undefined;
  }
}

function parseRaw(bytes: Uint8Array): RawKeyfile {
  const raw = parseJsonKeyfile(bytes) ?? parseBincodeKeyfile(bytes);
  if (!raw) throw new KeyfileError("failed to deserialize keyfile");
  return raw;
}

/** The unencrypted part: who the keyfile belongs to and its routers. */
export function keyfileIdentity(bytes: Uint8Array): { username: string; routers: string[] } {
  const { username, routers } = parseRaw(bytes);
  return { username, routers };
}

/** Decrypt with a password hash; a wrong password throws "failed to decrypt networking keys". */
export async function decodeKeyfile(bytes: Uint8Array, passwordHash: string): Promise<Keyfile> {
  const raw = parseRaw(bytes);
  const key = await deriveDiskKey(passwordHash, raw.salt);
  const networkingKeyPkcs8 = await open(key, raw.keyEnc, "networking keys");
  ed25519FromPkcs8(networkingKeyPkcs8); // must parse, as Hyperdrive requires
  const jwtSecret = await open(key, raw.jwtEnc, "jwt secret");
  const fileKey = await open(key, raw.fileEnc, "file key");
  return { username: raw.username, routers: raw.routers, networkingKeyPkcs8, jwtSecret, fileKey };
}

// ---------------------------------------------------------------------------
// Boot helper

/** A keyfile read (or created) at boot: its bytes and its decrypted contents. */
export interface LoadedKeyfile {
  /** The bytes on disk; http-server needs them for /login. */
  encoded: Uint8Array;
  /** The decrypted contents. */
  keyfile: Keyfile;
  /** True when this call created the keyfile. */
  created: boolean;
  /**
   * Uploaded on the boot page (Hyperdrive's /import-keyfile), not read from home: bootNode
   * writes it to `<home>/.keys` once the chain agrees with it.
   */
  imported?: boolean;
}

/** An uploaded keyfile (Hyperdrive's /import-keyfile), decrypted with the password hash. */
export async function openUploadedKeyfile(
  encoded: Uint8Array,
  passwordHash: string,
): Promise<LoadedKeyfile> {
  const keyfile = await decodeKeyfile(encoded, passwordHash);
  return { encoded, keyfile, created: false, imported: true };
}

/**
 * Boot-time keyfile handling: with a keyfile at `<home>/.keys`, decrypt it with
 * the password (wrong password -> KeyfileError); without one, create it (needs
 * `our` and the password). Give `password` (hashed here) or `passwordHash`
 * (already hashed, e.g. by the browser). `networkingKeySeed` adopts an existing
 * Ed25519 key instead of generating one.
 */
export async function loadOrCreateKeyfile(opts: {
  home: string;
  password?: string;
  passwordHash?: string;
  our?: string;
  routers?: string[];
  networkingKeySeed?: Uint8Array;
}): Promise<LoadedKeyfile> {
  if (opts.password === undefined && opts.passwordHash === undefined) {
    throw new KeyfileError("a password is needed to open or create the keyfile");
  }
  const hashFor = (name: string) =>
    opts.passwordHash !== undefined
      ? Promise.resolve(opts.passwordHash)
      : hashPassword(opts.password!, name);
  const path = keyfilePath(opts.home);
  const encoded = await readKeyfile(opts.home);
  if (encoded) {
    const { username } = keyfileIdentity(encoded);
    if (opts.our !== undefined && opts.our !== username) {
      throw new KeyfileError(`keyfile belongs to ${username}, not ${opts.our}`);
    }
    const keyfile = await decodeKeyfile(encoded, await hashFor(username));
    return { encoded, keyfile, created: false };
  }
  if (!opts.our) throw new KeyfileError("no keyfile found and no node name to create one");
  const keyfile = generateKeyfile(opts.our, opts.routers ?? []);
  if (opts.networkingKeySeed) {
    keyfile.networkingKeyPkcs8 = pkcs8FromEd25519Seed(opts.networkingKeySeed);
  }
  const bytes = await encodeKeyfile(keyfile, await hashFor(opts.our));
  await Deno.mkdir(opts.home, { recursive: true });
  await Deno.writeFile(path, bytes, { mode: 0o600 });
  return { encoded: bytes, keyfile, created: true };
}

/** Where the keyfile of `home` lives. */
export function keyfilePath(home: string): string {
  return `${home.replace(/\/+$/, "")}/${KEYFILE_NAME}`;
}

/** The keyfile's bytes, or undefined when there is none yet. */
export async function readKeyfile(home: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(keyfilePath(home));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
