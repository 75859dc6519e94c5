// JSON as Hyperdrive's serde reads and writes it for the process APIs. u64 values
// (tx ids, lengths, timer millis) must survive exactly, which a JS number cannot past 2^53.

import type { PackageId } from "./core.ts";

/** UTF-8 text, refusing invalid bytes as serde_json does. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

/** One fatal decoder for every body: it keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** JSON.parse keeping integers exact: integers beyond 2^53 come back as bigint. */
export function parseJsonExact(text: string): unknown {
  const v = JSON.parse(text);
  if (!/\d{16}/.test(text)) return v; // no integer long enough to have lost precision
  return JSON.parse(
    text,
    (_k, value, ctx?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && ctx?.source !== undefined &&
        /^-?\d+$/.test(ctx.source)
        ? BigInt(ctx.source)
        : value,
  );
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
