// SqlValue encoding as Hyperdrive's sqlite module does it.
//
// Parameters arrive in the blob as a JSON array. A number is Integer when it is an
// integer literal within i64, otherwise Real; a string that is canonical standard
// base64 (padded, no trailing bits; "" included) becomes a Blob, any other string
// Text; a bool binds as 1/0; null as NULL. Query rows go back as a JSON array of
// {column: value} objects: Integer and Real as JSON numbers (Real in serde_json's
// float notation, e.g. 1.0), Text as strings, Blob as standard base64, NULL as null.

import { decodeUtf8Strict } from "../../wire/json.ts";

/** What node:sqlite binds: bigint INTEGER, number REAL, string TEXT, bytes BLOB. */
export type SqlParam = bigint | number | string | Uint8Array | null;

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
// the standard alphabet, padding only at the end; no whitespace (fromBase64 skips it)
const B64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/** base64 crate 0.22 STANDARD decode: padding required and canonical. */
export function decodeCanonicalBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !B64_TEXT.test(s)) return undefined;
  try {
    // "strict": padding required, the bits past the last byte must be zero
    return Uint8Array.fromBase64(s, { lastChunkHandling: "strict" });
  } catch {
    return undefined;
  }
}

class Num {
  constructor(readonly source: string) {}
}

/**
 * A number token with a fraction or an exponent, anywhere in the text. JSON numbers start
 * after `[`, `,`, `:` or whitespace; inside a string this may match too, which only costs
 * the slow parse. No match: every number in the text is an integer literal.
 */
const REAL_TOKEN = /[[,:\s]-?\d+[.eE]/;

/** Blob bytes -> bound parameters; undefined for any shape Hyperdrive rejects. */
export function parseParams(blob: Uint8Array | undefined): SqlParam[] | undefined {
  if (!blob) return [];
  let text: string;
  try {
    text = decodeUtf8Strict(blob);
  } catch {
    return undefined;
  }
  // integer literals only: JSON.parse's doubles are exact up to 2^53, so the reviver
  // (keeping each number's source, several times slower) is needed only past that
  if (!REAL_TOKEN.test(text)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!Array.isArray(v)) return undefined;
    // -0 binds as REAL (Hyperdrive: "-0" is not an integer literal)
    const out = paramsOf(
      v,
      (n) => Number.isSafeInteger(n) && !Object.is(n, -0) ? BigInt(n) : undefined,
    );
    if (out !== "inexact") return out;
  }
  let v: unknown;
  try {
    // keep each number's source text: 1 and 1.0 bind differently
    v = JSON.parse(
      text,
      (_k, value, ctx?: { source?: string }) =>
        typeof value === "number" ? new Num(ctx?.source ?? String(value)) : value,
    );
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const out = paramsOf(v, () => undefined);
  return out === "inexact" ? undefined : out;
}

/**
 * The parameters of a parsed array; `number` binds a plain JSON number (undefined: its
 * source is needed, "inexact"). Undefined for any item Hyperdrive rejects.
 */
function paramsOf(
  v: unknown[],
  number: (n: number) => bigint | undefined,
): SqlParam[] | undefined | "inexact" {
  const out: SqlParam[] = [];
  for (const item of v) {
    if (item === null) out.push(null);
    else if (typeof item === "boolean") out.push(item ? 1n : 0n);
    else if (typeof item === "string") out.push(decodeCanonicalBase64(item) ?? item);
    else if (item instanceof Num) out.push(numberParam(item.source));
    else if (typeof item === "number") {
      const n = number(item);
      if (n === undefined) return "inexact";
      out.push(n);
    } else return undefined;
  }
  return out;
}

function numberParam(src: string): bigint | number {
  if (/^-?\d+$/.test(src) && src !== "-0") {
    const n = BigInt(src);
    if (n >= I64_MIN && n <= I64_MAX) return n;
  }
  return Number(src);
}

/** serde_json's (ryu's) notation for a finite f64. */
export function formatReal(x: number): string {
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, exp] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const len = digits.length;
  const kk = Number(exp) + 1; // decimal point position relative to the digits
  const k = kk - len;
  let s: string;
  if (k >= 0 && kk <= 16) s = digits + "0".repeat(k) + ".0";
  else if (kk > 0 && kk <= 16) s = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) s = `0.${"0".repeat(-kk)}${digits}`;
  else if (len === 1) s = `${digits}e${kk - 1}`;
  else s = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return sign + s;
}

export class RowEncodingError extends Error {}

function valueJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RowEncodingError(`REAL ${v} has no JSON form`);
    return formatReal(v);
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `"${v.toBase64()}"`;
  throw new RowEncodingError(`unexpected column value ${typeof v}`);
}

/**
 * A row encoder for `columns`: each row (an array, in column order) -> its JSON object
 * text. Later duplicate names win, one key per distinct name (Hyperdrive's HashMap).
 */
export function rowEncoder(columns: string[]): (row: unknown[]) => string {
  const keys = columns.map((c) => JSON.stringify(c));
  const lastIndex = new Map<string, number>();
  columns.forEach((c, i) => lastIndex.set(c, i));
  const picks = [...lastIndex.values()].sort((a, b) => a - b);
  return (row) => `{${picks.map((i) => `${keys[i]}:${valueJson(row[i])}`).join(",")}}`;
}

/** Rows (arrays, in column order) -> the Query blob text. */
export function rowsToJson(columns: string[], rows: unknown[][]): string {
  const encode = rowEncoder(columns);
  return `[${rows.map(encode).join(",")}]`;
}
