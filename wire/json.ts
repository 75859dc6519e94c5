// JSON as Hyperdrive's serde reads and writes it for the process APIs. u64 values
// (tx ids, lengths, timer millis) must survive exactly, which a JS number cannot past 2^53.

import type { PackageId } from "./core.ts";

/** UTF-8 text, refusing invalid bytes as serde_json does. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

/** One fatal decoder for every body: it keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * JSON.parse keeping integers exact: integers beyond 2^53 come back as bigint. Plain
 * JSON.parse first; only when a number in the result may have lost precision (an integer
 * past 2^53, or one too large for a double) is the text parsed again with a reviver, which
 * is several times slower. (A text-level check such as "16 digits in a row" is true for
 * almost any hex data, so it cannot stand in for looking at the numbers.)
 */
export function parseJsonExact(text: string): unknown {
  const v = JSON.parse(text);
  return mayBeInexact(v) ? parseJsonReviving(text) : v;
}

/** The exact parse itself: every integer literal past 2^53 as a bigint. */
export function parseJsonReviving(text: string): unknown {
  return JSON.parse(
    text,
    (_k, value, ctx?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && ctx?.source !== undefined &&
        /^-?\d+$/.test(ctx.source)
        ? BigInt(ctx.source)
        : value,
  );
}

/** A number parseJsonReviving could read differently: not a safe integer nor a fraction. */
function mayBeInexact(v: unknown): boolean {
  if (typeof v === "number") {
    return !Number.isSafeInteger(v) && (Number.isInteger(v) || !Number.isFinite(v));
  }
  if (typeof v !== "object" || v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (mayBeInexact(v[i])) return true;
    return false;
  }
  for (const k in v) if (mayBeInexact((v as Record<string, unknown>)[k])) return true;
  return false;
}

/** A request body: strict UTF-8, then exact JSON. Throws on either failure. */
export function parseJsonBody(body: Uint8Array): unknown {
  return parseJsonExact(decodeUtf8Strict(body));
}

const encoder = new TextEncoder();

// JSON.rawJSON (ES2026, in V8) is not in Deno's bundled TypeScript lib yet.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

// bigints become raw JSON number text (exact at any size); bytes become number arrays
// (serde's Vec<u8>). Anything else is JSON.stringify's own.
function exactReplacer(_k: string, v: unknown): unknown {
  if (typeof v === "bigint") return rawJSON(v.toString());
  if (v instanceof Uint8Array) return Array.from(v);
  return v;
}

/** Serialize with u64 bigints as exact JSON numbers and bytes as number arrays (serde's Vec<u8>). */
export function encodeJsonExact(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, exactReplacer));
}

/** PackageId as serde writes it (its derived struct form, field order kept). */
export interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}

export function packageIdToJson(p: PackageId): PackageIdJson {
  return { package_name: p.packageName, publisher_node: p.publisherNode };
}
