// Readers for serde-shaped JSON values (externally tagged enums, snake_case fields).
// Each throws a plain Error; callers turn any failure into their MalformedRequest.

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function field(o: unknown, name: string): unknown {
  if (!isObject(o) || !(name in o)) throw new Error(`missing field ${name}`);
  return o[name];
}

export function str(v: unknown): string {
  if (typeof v !== "string") throw new Error("expected string");
  return v;
}

function asInteger(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

export function u64(v: unknown): bigint {
  const n = asInteger(v);
  if (n === undefined || n < 0n || n > U64_MAX) throw new Error("expected u64");
  return n;
}

export function i64(v: unknown): bigint {
  const n = asInteger(v);
  if (n === undefined || n < I64_MIN || n > I64_MAX) throw new Error("expected i64");
  return n;
}

/** Option<u64>: absent or null is None. */
export function optU64(o: Record<string, unknown>, name: string): bigint | undefined {
  const v = o[name];
  return v === undefined || v === null ? undefined : u64(v);
}

/** The single `{ "Variant": value }` pair of an externally tagged enum value ("Unit" -> null). */
export function variant(v: unknown): [string, unknown] {
  if (typeof v === "string") return [v, null];
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1) return [keys[0], v[keys[0]]];
  }
  throw new Error("expected an enum variant");
}
