// Boot-time helpers for net: the node's networking key in its home directory,
// and PKI records from a --fake-pki file (until chain indexing exists).

import { type HnsUpdate, parseNetKey } from "../wire/net.ts";

/** File under the node home holding the 32-byte Ed25519 networking key seed. */
export const NETWORKING_KEY_FILE = ".networking-key";

/**
 * The node's networking key: read from `<home>/.networking-key` (the file bootNode
 * uses), or generated and written there (owner-only) at first boot. Stored raw; a
 * later issue encrypts it with the node password.
 */
export async function loadOrCreateNetworkingKey(home: string): Promise<Uint8Array> {
  const path = `${home}/${NETWORKING_KEY_FILE}`;
  try {
    const seed = await Deno.readFile(path);
    if (seed.length !== 32) throw new Error(`${path}: expected 32 bytes, found ${seed.length}`);
    return seed;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const seed = crypto.getRandomValues(new Uint8Array(32));
  await Deno.mkdir(home, { recursive: true });
  await Deno.writeFile(path, seed, { mode: 0o600, createNew: true });
  return seed;
}

function fail(where: string, what: string): never {
  throw new Error(`${where}: ${what}`);
}

/** Check one HnsUpdate record (JSON shape, as Hyperdrive serializes it). */
export function parseHnsUpdate(v: unknown, where = "HnsUpdate"): HnsUpdate {
  if (!v || typeof v !== "object" || Array.isArray(v)) fail(where, "must be an object");
  const o = v as Record<string, unknown>;
  const strings = (k: string): string[] => {
    const a = o[k] ?? [];
    if (!Array.isArray(a) || a.some((x) => typeof x !== "string")) {
      fail(where, `${k} must be a list of strings`);
    }
    return [...a] as string[];
  };
  if (typeof o.name !== "string" || o.name.length === 0) fail(where, "name must be a string");
  if (typeof o.public_key !== "string") fail(where, "public_key must be 32 bytes of hex");
  let key: Uint8Array;
  try {
    key = parseNetKey(o.public_key);
  } catch (e) {
    fail(where, `public_key: ${(e as Error).message}`);
  }
  if (key.length !== 32) {
    fail(where, `public_key must be 32 bytes of hex, found ${key.length} bytes`);
  }
  const ports: Record<string, number> = {};
  const rawPorts = o.ports ?? {};
  if (typeof rawPorts !== "object" || Array.isArray(rawPorts)) fail(where, "ports must be a map");
  for (const [k, p] of Object.entries(rawPorts as Record<string, unknown>)) {
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
      fail(where, `port ${k} must be 0..65535`);
    }
    ports[k] = p;
  }
  const update: HnsUpdate = {
    name: o.name,
    public_key: o.public_key,
    ips: strings("ips"),
    ports,
    routers: strings("routers"),
  };
  if (update.ips.length === 0 && update.routers.length === 0) {
    fail(where, "a node needs ips (direct) or routers (indirect)");
  }
  return update;
}

/**
 * Records from a --fake-pki file: a JSON array of HnsUpdate objects
 * `{ "name", "public_key", "ips", "ports", "routers" }`, e.g. the `identity` of
 * other running nodes.
 */
export async function readPkiFile(path: string): Promise<HnsUpdate[]> {
  const parsed: unknown = JSON.parse(await Deno.readTextFile(path));
  if (!Array.isArray(parsed)) fail(path, "must hold a JSON array of HnsUpdate records");
  return parsed.map((v, i) => parseHnsUpdate(v, `${path}[${i}]`));
}
