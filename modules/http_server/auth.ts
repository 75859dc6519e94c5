// Login tokens as Hyperdrive issues them: an HS256 JWT, header {"alg":"HS256"},
// claims {"username","subdomain","expiration"} (seconds, 26 weeks ahead),
// carried in the cookie `hyperware-auth_<node>` or, for a secure subdomain
// on localhost, `hyperware-auth_<node>@<process>`. Signed and checked with
// WebCrypto's HMAC here rather than a JWT library: it is a few lines, and the
// reading rules (strict base64url, these claims) must be the jwt crate's.

import type { ProcessId } from "../../wire/core.ts";

export const JWT_LIFETIME_SECONDS = 26 * 7 * 24 * 60 * 60;

export interface JwtClaims {
  username: string;
  subdomain: string | null;
  expiration: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const BASE64URL_CHARS = /^[A-Za-z0-9_-]*$/;

/** base64url without padding, as the jwt crate writes each part. */
export function base64UrlEncode(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * A token part as the jwt crate reads it (base64 0.13, URL_SAFE_NO_PAD): url-safe
 * letters only, no whitespace, canonical (unused trailing bits zero). Throws otherwise.
 */
export function base64UrlDecode(s: string): Uint8Array {
  if (!BASE64URL_CHARS.test(s)) throw new Error("not unpadded base64url");
  return Uint8Array.fromBase64(s + "=".repeat((4 - (s.length % 4)) % 4), {
    alphabet: "base64url",
    lastChunkHandling: "strict",
  });
}

export function importJwtKey(secret: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    secret as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** A token for `username`; an empty subdomain counts as none, as in Hyperdrive. */
export async function generateJwt(
  key: CryptoKey,
  username: string,
  subdomain?: string | null,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  const claims: JwtClaims = {
    username,
    subdomain: subdomain ? subdomain : null,
    expiration: nowSeconds + JWT_LIFETIME_SECONDS,
  };
  const signingInput = `${base64UrlEncode(enc.encode('{"alg":"HS256"}'))}.${
    base64UrlEncode(enc.encode(JSON.stringify(claims)))
  }`;
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(signingInput)));
  return `${signingInput}.${base64UrlEncode(sig)}`;
}

const JWT_FORMAT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Signature, algorithm and claims of a token; undefined if anything is off. */
export async function verifyJwt(key: CryptoKey, token: string): Promise<JwtClaims | undefined> {
  if (token.length > 4096 || !JWT_FORMAT.test(token)) return undefined;
  const [h, c, s] = token.split(".");
  try {
    const header = JSON.parse(dec.decode(base64UrlDecode(h)));
    if (!header || header.alg !== "HS256") return undefined;
    const ok = await crypto.subtle.verify(
      "HMAC",
      key,
      base64UrlDecode(s) as Uint8Array<ArrayBuffer>,
      enc.encode(`${h}.${c}`),
    );
    if (!ok) return undefined;
    const claims = JSON.parse(dec.decode(base64UrlDecode(c)));
    if (
      !claims || typeof claims.username !== "string" ||
      !(claims.subdomain == null || typeof claims.subdomain === "string") ||
      typeof claims.expiration !== "number"
    ) {
      return undefined;
    }
    return {
      username: claims.username,
      subdomain: claims.subdomain ?? null,
      expiration: claims.expiration,
    };
  } catch {
    return undefined;
  }
}

export function authCookieName(our: string, subdomain?: string): string {
  return subdomain === undefined ? `hyperware-auth_${our}` : `hyperware-auth_${our}@${subdomain}`;
}

/** The token under `name` in a Cookie header, split as Hyperdrive splits it. */
export function findCookie(cookieHeader: string, name: string): string | undefined {
  for (const entry of cookieHeader.split("; ")) {
    const parts = entry.split("=");
    if (parts.length === 2 && parts[0] === name) return parts[1];
  }
  return undefined;
}

/**
 * Tokens whose signature and header were checked with a key, with their claims:
 * a browser sends the same cookie with every request, and checking it again
 * costs an HMAC through WebCrypto (an async op). Only tokens signed with the key
 * get in, so nobody without the secret can fill it; the claims (name, subdomain,
 * expiry) are still checked on every request.
 */
const VERIFIED = new WeakMap<CryptoKey, Map<string, JwtClaims>>();
/** Past this many, the remembered tokens are forgotten (and checked again when next seen). */
const MAX_VERIFIED_TOKENS = 1024;

function verifiedTokens(key: CryptoKey): Map<string, JwtClaims> {
  let known = VERIFIED.get(key);
  if (!known) VERIFIED.set(key, known = new Map());
  return known;
}

/**
 * Hyperdrive's auth_token_valid: the cookie for this node (and process, for a
 * secure subdomain on localhost) holds a token signed with our secret, for our
 * name, with the same subdomain claim, not expired.
 */
export async function authTokenValid(
  key: CryptoKey,
  our: string,
  subdomain: string | undefined,
  cookieHeader: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  const token = findCookie(cookieHeader, authCookieName(our, subdomain));
  if (!token) return false;
  const known = verifiedTokens(key);
  let claims = known.get(token);
  if (!claims) {
    claims = await verifyJwt(key, token);
    if (!claims) return false;
    if (known.size >= MAX_VERIFIED_TOKENS) known.clear();
    known.set(token, claims);
  }
  return claims.username === our && claims.subdomain === (subdomain ?? null) &&
    claims.expiration > nowSeconds;
}

/** package-publisher with every non-alphanumeric character turned into '-'. */
export function secureSubdomain(process: ProcessId): string {
  return `${process.packageName}-${process.publisherNode}`.replace(/[^A-Za-z0-9]/g, "-");
}
