// JSON as Hyperdrive's serde reads and writes it for the storage modules. u64 values
// (tx ids, lengths, timer millis) must survive exactly, which a JS number cannot past 2^53.

/** UTF-8 text, refusing invalid bytes as serde_json does. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

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

/** Serialize with u64 bigints as exact JSON numbers and bytes as number arrays (serde's Vec<u8>). */
export function encodeJsonExact(value: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(value, (_k, v) => {
      if (typeof v === "bigint") return `\u0000${v}\u0000`;
      if (v instanceof Uint8Array) return Array.from(v);
      return v;
    }).replace(/"\\u0000(\d+)\\u0000"/g, "$1"),
  );
}
