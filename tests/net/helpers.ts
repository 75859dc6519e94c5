// Shared test helpers for net: identities, a raw-socket reader, assertions.

import { networkingPublicKey } from "../../net/handshake.ts";
import { type Identity, netKeyToHex } from "../../wire/net.ts";
import { type KernelMessage, parseAddress } from "../../wire/core.ts";

export function seedFor(label: string): Uint8Array {
  // deterministic per test node, distinct per label
  const seed = new Uint8Array(32);
  const bytes = new TextEncoder().encode(label);
  for (let i = 0; i < 32; i++) seed[i] = (bytes[i % bytes.length] * 31 + i * 7) & 0xff;
  return seed;
}

export function directIdentity(
  name: string,
  seed: Uint8Array,
  ports: Record<string, number>,
): Identity {
  return {
    name,
    networking_key: netKeyToHex(networkingPublicKey(seed)),
    routing: { Direct: { ip: "127.0.0.1", ports } },
  };
}

export function testKm(from: string, to: string, body: Uint8Array, id = 7n): KernelMessage {
  return {
    id,
    source: parseAddress(`${from}@app:test:sys`),
    target: parseAddress(`${to}@app:test:sys`),
    message: {
      tag: "request",
      val: { inherit: false, expectsResponse: 5n, body, metadata: undefined, capabilities: [] },
    },
  };
}

/** Exact reads over a raw Deno.Conn (the test's own framing, independent of net/tcp.ts). */
export class RawReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async exact(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      const chunk = new Uint8Array(65536);
      const got = await this.#conn.read(chunk);
      if (got === null) throw new Error("eof");
      const next = new Uint8Array(this.#buf.length + got);
      next.set(this.#buf);
      next.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = next;
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
  /** True if the peer closed the socket (EOF or reset) within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    const eof = (async () => {
      try {
        const chunk = new Uint8Array(65536);
        while (true) {
          const got = await this.#conn.read(chunk);
          if (got === null) return true;
        }
      } catch {
        return true;
      }
    })();
    const result = await Promise.race([eof, timeout]);
    clearTimeout(timer);
    return result;
  }
}

export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

export function u16be(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

export function u32be(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/** n random bytes (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, off + 65536));
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

export function assertEq(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolve when `pred` holds, polling; fail after `ms`. */
export async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A blob with a fixed pattern so corruption anywhere is caught. */
export function patternBlob(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
