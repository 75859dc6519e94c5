// Readers for serde-shaped JSON values (externally tagged enums, snake_case fields):
// the one family every process API's parser is built on. Each throws a plain Error;
// callers turn any failure into their module's MalformedRequest (or equivalent).

import type { PackageId } from "./core.ts";

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

export function bool(v: unknown): boolean {
  if (typeof v !== "boolean") throw new Error("expected a boolean");
  return v;
}

/** A struct's JSON object; `what` names the struct in the error. */
export function struct(v: unknown, what?: string): Record<string, unknown> {
  if (!isObject(v)) {
    throw new Error(`expected ${what ? `struct ${what}` : "a struct (JSON object)"}`);
  }
  return v;
}

/** An error's message (or the thrown value as text). */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads field `name` of struct `o` with `read`, naming the field in any error. */
export function get<T>(o: Record<string, unknown>, name: string, read: (v: unknown) => T): T {
  const v = field(o, name);
  try {
    return read(v);
  } catch (e) {
    throw new Error(`${name}: ${message(e)}`);
  }
}

/** An Option field: absent or null is None. */
export function opt<T>(
  o: Record<string, unknown>,
  name: string,
  read: (v: unknown) => T,
): T | undefined {
  return o[name] === undefined || o[name] === null ? undefined : get(o, name, read);
}

/** A sequence, each item read with `read` (errors name the index). */
export function list<T>(v: unknown, read: (item: unknown) => T): T[] {
  if (!Array.isArray(v)) throw new Error("expected a sequence (JSON array)");
  return v.map((item, i) => {
    try {
      return read(item);
    } catch (e) {
      throw new Error(`[${i}]: ${message(e)}`);
    }
  });
}

/** A tuple of exactly `n` values. */
export function tuple(v: unknown, n: number): unknown[] {
  if (!Array.isArray(v) || v.length !== n) throw new Error(`expected a tuple of ${n}`);
  return v;
}

/** A short rendering of a bad value for error texts. */
export function show(v: unknown): string {
  const s = JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}` : x) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
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

export function u32(v: unknown): number {
  const n = u64(v);
  if (n > 0xffffffffn) throw new Error("expected u32");
  return Number(n);
}

export function u16(v: unknown): number {
  const n = u64(v);
  if (n > 65535n) throw new Error("expected u16");
  return Number(n);
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

/** Vec<u8>: serde_json writes it as an array of numbers 0..=255. */
export function bytes(v: unknown): Uint8Array {
  if (!Array.isArray(v)) throw new Error("expected a byte array");
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const b = v[i];
    if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255) {
      throw new Error(`[${i}]: expected u8`);
    }
    out[i] = b;
  }
  return out;
}

/** Option<String> as a field: absent or null is None (null). */
export function optStr(o: Record<string, unknown>, name: string): string | null {
  const v = o[name];
  return v === undefined || v === null ? null : str(v);
}

/** HashMap<String, String>. */
export function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) throw new Error("expected a map");
  for (const k in v) if (typeof v[k] !== "string") throw new Error(`${k}: expected string`);
  return v as Record<string, string>;
}

/** PackageId as serde derives it: {"package_name": string, "publisher_node": string}. */
export function packageId(v: unknown): PackageId {
  return {
    packageName: str(field(v, "package_name")),
    publisherNode: str(field(v, "publisher_node")),
  };
}

/**
 * A name the runtime uses as one directory level (a db name, a package id): nothing
 * that walks the tree. Stricter than serde: such a name is refused before any
 * filesystem work.
 */
export function dirName(v: unknown): string {
  const s = str(v);
  if (s.length === 0 || s === "." || s === ".." || /[/\\\0]/.test(s)) {
    throw new Error(`not a directory name: ${JSON.stringify(s)}`);
  }
  return s;
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

/** A unit variant's value: serde accepts "Tag" and {"Tag": null} alike. */
export function unit(tag: string, val: unknown): void {
  if (val !== null) throw new Error(`${tag} takes no value`);
}
