// What terminal:sys's net scripts share (peer, peers, hfetch, net-diagnostics): NetAction
// and NetResponse in the MessagePack rmp-serde writes, lib's Identity, and Rust's `{:?}`
// of its routing.
import { dec, enc } from "./script.ts";

/** MessagePack as rmp-serde writes net's types (structs as arrays, enums as {variant: value}). */
export function unpack(b: Uint8Array): unknown {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  const take = (n: number) => {
    if (i + n > b.length) throw new Error("truncated MessagePack");
    const s = b.subarray(i, i + n);
    i += n;
    return s;
  };
  const many = (n: number) => Array.from({ length: n }, () => read());
  const map = (n: number) => {
    const o: Record<string, unknown> = {};
    for (let k = 0; k < n; k++) {
      const key = String(read());
      o[key] = read();
    }
    return o;
  };
  const u = (n: 1 | 2 | 4 | 8) => {
    const at = take(n).byteOffset - b.byteOffset;
    return n === 1
      ? dv.getUint8(at)
      : n === 2
      ? dv.getUint16(at)
      : n === 4
      ? dv.getUint32(at)
      : Number(dv.getBigUint64(at));
  };
  function read(): unknown {
    const t = take(1)[0];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f);
    if (t >= 0x90 && t <= 0x9f) return many(t & 0x0f);
    if (t >= 0xa0 && t <= 0xbf) return dec.decode(take(t & 0x1f));
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return take(u(t === 0xc4 ? 1 : t === 0xc5 ? 2 : 4)).slice();
      case 0xcc:
        return u(1);
      case 0xcd:
        return u(2);
      case 0xce:
        return u(4);
      case 0xcf:
        return u(8);
      case 0xd0:
        return (u(1) << 24) >> 24;
      case 0xd1:
        return (u(2) << 16) >> 16;
      case 0xd2:
        return u(4) | 0;
      case 0xd3: {
        const at = take(8).byteOffset - b.byteOffset;
        return Number(dv.getBigInt64(at));
      }
      case 0xd9:
        return dec.decode(take(u(1)));
      case 0xda:
        return dec.decode(take(u(2)));
      case 0xdb:
        return dec.decode(take(u(4)));
      case 0xdc:
        return many(u(2));
      case 0xdd:
        return many(u(4));
      case 0xde:
        return map(u(2));
      case 0xdf:
        return map(u(4));
    }
    throw new Error(`unexpected MessagePack byte 0x${t.toString(16)}`);
  }
  return read();
}

/** A MessagePack string. */
export function packStr(s: string): Uint8Array {
  const b = enc.encode(s);
  const head = b.length < 32
    ? [0xa0 | b.length]
    : b.length < 256
    ? [0xd9, b.length]
    : [0xda, b.length >> 8, b.length & 0xff];
  return new Uint8Array([...head, ...b]);
}

/** NetAction: a unit variant is its name; GetPeer(name) is {"GetPeer": name}. */
export function netAction(variant: string, arg?: string): Uint8Array {
  if (arg === undefined) return packStr(variant);
  return new Uint8Array([0x81, ...packStr(variant), ...packStr(arg)]);
}

/** The one {variant: value} of a NetResponse, if it is `variant`. */
export function netResponse(body: Uint8Array, variant: string): { value: unknown } | undefined {
  try {
    const v = unpack(body);
    if (v && typeof v === "object" && !Array.isArray(v) && variant in v) {
      return { value: (v as Record<string, unknown>)[variant] };
    }
  } catch { /* malformed */ }
  return undefined;
}

export interface Identity {
  name: string;
  networking_key: string;
  routing: Record<string, unknown>;
}

/** lib's Identity from its MessagePack (an array of fields, or a map of them). */
export function identity(v: unknown): Identity | undefined {
  const f = Array.isArray(v)
    ? { name: v[0], networking_key: v[1], routing: v[2] }
    : v && typeof v === "object"
    ? v as Record<string, unknown>
    : undefined;
  if (!f || typeof f.name !== "string" || typeof f.networking_key !== "string") return undefined;
  if (!f.routing || typeof f.routing !== "object") return undefined;
  return f as unknown as Identity;
}

/** A routing variant's fields, whether written as an array or a map. */
export function fields(v: unknown, names: string[]): Record<string, unknown> {
  if (Array.isArray(v)) return Object.fromEntries(names.map((n, i) => [n, v[i]]));
  return (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
}

/** `{:?}` of a String. */
export function debugStr(s: string): string {
  return JSON.stringify(s).replace(
    /\\u00([0-9a-f]{2})/g,
    (_m, h) => `\\u{${parseInt(h, 16).toString(16)}}`,
  );
}

/** `{:?}` of NodeRouting. */
export function debugRouting(r: Record<string, unknown>): string {
  const list = (l: unknown) =>
    `[${(Array.isArray(l) ? l : []).map((x) => debugStr(String(x))).join(", ")}]`;
  const ports = (p: unknown) => {
    const o = (p && typeof p === "object" ? p : {}) as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${debugStr(k)}: ${o[k]}`).join(", ")}}`;
  };
  if ("Routers" in r) return `Routers(${list(r.Routers)})`;
  if ("Direct" in r) {
    const d = fields(r.Direct, ["ip", "ports"]);
    return `Direct { ip: ${debugStr(String(d.ip))}, ports: ${ports(d.ports)} }`;
  }
  const b = fields(r.Both, ["ip", "ports", "routers"]);
  return `Both { ip: ${debugStr(String(b.ip))}, ports: ${ports(b.ports)}, routers: ${
    list(b.routers)
  } }`;
}
