// One kv database on Deno KV, holding arbitrary byte keys and values.
//
// Deno KV caps a key at 2048 encoded bytes, a value at 65536 bytes, and one atomic
// commit at 1000 mutations / 800 KiB / 80 KiB of keys. Layout inside the Deno KV file:
//   ["k", key]            value, when the key fits the key limit
//   ["h", sha256(key)]    value, for longer keys (same record shapes)
//   record = Uint8Array (inline, <= 64 KiB) | {gen, n, len} (stored in chunks)
//   ["c", gen, i]         chunk i of a large value (<= 64 KiB each)
//   ["m", sha256(key)]    {gen, n}: index of keys whose value is chunked
//   ["p", gen]            n: chunks of `gen` that no record points to (yet, or any more)
// A large value's chunks are written first under a fresh `gen` guarded by a "p" marker;
// one atomic commit then points the record at them and moves the marker to the old
// generation. So a value is never visible half-written, and chunks orphaned by a crash
// are found through "p" markers and collected when the store opens.
//
// Requests of different processes reach one store concurrently. Writes (every change
// goes through `commit`) take the store's write lock, since they read and update the
// chunk index; reads take no lock and retry when a concurrent write replaced the value
// they were reading.

import { createHash } from "node:crypto";

export const KEY_LIMIT = 2048;
export const VALUE_LIMIT = 65536;
const CHUNKS_PER_COMMIT = 10; // 10 x 64 KiB stays under the 800 KiB commit cap
const DELETES_PER_COMMIT = 999;
/** Inline bytes one transaction may carry before further values go to chunks. */
const TX_INLINE_BUDGET = 512 * 1024;

export interface TxOp {
  key: Uint8Array;
  /** undefined deletes the key */
  value?: Uint8Array;
}

interface Chunked {
  gen: string;
  n: number;
}

interface ChunkedRecord extends Chunked {
  len: number;
}

/** Encoded size of ["k", key]: string part 3 bytes, bytes part 2 + len + escaped NULs. */
function directKeySize(key: Uint8Array): number {
  let zeros = 0;
  for (const b of key) if (b === 0) zeros++;
  return 5 + key.length + zeros;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** Raised when Deno KV refuses an operation; the message names the limit. */
export class KvBackendError extends Error {}

export class KvStore {
  #kv: Deno.Kv;
  /** hex(sha256(key)) -> chunk generation, for every key whose value is chunked */
  #chunked = new Map<string, Chunked>();
  /** the tail of the write lock: the previous commit's end */
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  static async open(path: string): Promise<KvStore> {
    const store = new KvStore(await Deno.openKv(path));
    try {
      await store.#recover();
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  async #recover(): Promise<void> {
    const orphans: [string, number][] = [];
    for await (const e of this.#kv.list<number>({ prefix: ["p"] })) {
      orphans.push([e.key[1] as string, e.value]);
    }
    for (const [gen, n] of orphans) await this.#collect({ gen, n });
    for await (const e of this.#kv.list<Chunked>({ prefix: ["m"] })) {
      this.#chunked.set((e.key[1] as Uint8Array).toHex(), e.value);
    }
  }

  close(): void {
    this.#kv.close();
  }

  #recordKey(key: Uint8Array): Deno.KvKey {
    return directKeySize(key) <= KEY_LIMIT ? ["k", key] : ["h", sha256(key)];
  }

  /**
   * The value of `key`. A chunked value's length is known before its chunks are read:
   * `sizeOf(len)` sees it first (and may refuse by throwing).
   */
  async get(
    key: Uint8Array,
    sizeOf: (len: number) => void = () => {},
  ): Promise<Uint8Array | undefined> {
    const recordKey = this.#recordKey(key);
    for (;;) {
      const e = await this.#kv.get(recordKey);
      if (e.value === null) return undefined;
      if (e.value instanceof Uint8Array) return e.value;
      const rec = e.value as ChunkedRecord;
      sizeOf(rec.len);
      const out = new Uint8Array(rec.len);
      let off = 0;
      for await (const c of this.#kv.list<Uint8Array>({ prefix: ["c", rec.gen] })) {
        if (off + c.value.length > rec.len) break;
        out.set(c.value, off);
        off += c.value.length;
      }
      if (off === rec.len) return out;
      // chunks are never rewritten, only collected once a commit replaced the record:
      // read again if it did, else the store lost them
      const now = await this.#kv.get(recordKey);
      if (now.versionstamp === e.versionstamp) {
        throw new KvBackendError(`chunked value is ${off} of ${rec.len} bytes: store damaged`);
      }
    }
  }

  set(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.commit([{ key, value }]);
  }

  delete(key: Uint8Array): Promise<void> {
    return this.commit([{ key }]);
  }

  /** Apply all ops in one atomic Deno KV commit (later ops on a key win), under the write lock. */
  commit(ops: TxOp[]): Promise<void> {
    const done = this.#writes.then(() => this.#commit(ops));
    this.#writes = done.catch(() => {});
    return done;
  }

  async #commit(ops: TxOp[]): Promise<void> {
    // the common case, one inline value or a delete with no chunked keys to index, is one
    // Deno KV write: what the general path below does for it, without its bookkeeping
    if (ops.length === 1 && this.#chunked.size === 0) {
      const { key, value } = ops[0];
      if (!value || value.length <= VALUE_LIMIT) {
        const recordKey = this.#recordKey(key);
        try {
          await (value ? this.#kv.set(recordKey, value) : this.#kv.delete(recordKey));
        } catch (e) {
          throw new KvBackendError(e instanceof Error ? e.message : String(e));
        }
        return;
      }
    }
    const last = new Map<string, TxOp>();
    for (const op of ops) {
      const id = op.key.length < 4096
        ? "k" + String.fromCharCode(...op.key)
        : "h" + sha256(op.key).toHex();
      last.delete(id);
      last.set(id, op);
    }
    const final = [...last.values()];

    // Values beyond one entry, or beyond what one commit can carry, go to chunks.
    let budget = final.length > 1 ? TX_INLINE_BUDGET : VALUE_LIMIT;
    const bySize = final.filter((op) => op.value).sort((a, b) => a.value!.length - b.value!.length);
    const toChunk = new Set<TxOp>();
    for (const op of bySize) {
      const len = op.value!.length;
      if (len <= VALUE_LIMIT && len <= budget) budget -= len;
      else toChunk.add(op);
    }

    const written: Chunked[] = [];
    const replaced: Chunked[] = [];
    const indexUpdates: [string, Chunked | undefined][] = [];
    try {
      const atomic = this.#kv.atomic();
      for (const op of final) {
        const recordKey = this.#recordKey(op.key);
        const digest = this.#chunked.size > 0 || toChunk.has(op) ? sha256(op.key) : undefined;
        const id = digest ? digest.toHex() : "";
        const old = digest ? this.#chunked.get(id) : undefined;
        if (old) {
          // the old generation becomes garbage once this commit lands
          atomic.set(["p", old.gen], old.n);
          replaced.push(old);
        }
        if (!op.value || !toChunk.has(op)) {
          if (op.value) atomic.set(recordKey, op.value);
          else atomic.delete(recordKey);
          if (old) {
            atomic.delete(["m", digest!]);
            indexUpdates.push([id, undefined]);
          }
        } else {
          const rec = await this.#writeChunks(op.value);
          written.push(rec);
          const chunked = { gen: rec.gen, n: rec.n };
          atomic.set(recordKey, rec).set(["m", digest!], chunked).delete(["p", rec.gen]);
          indexUpdates.push([id, chunked]);
        }
      }
      await atomic.commit();
    } catch (e) {
      for (const g of written) await this.#collect(g).catch(() => {});
      const msg = e instanceof Error ? e.message : String(e);
      throw new KvBackendError(
        final.length > 1 ? `transaction too large for one Deno KV atomic commit: ${msg}` : msg,
      );
    }
    for (const [id, c] of indexUpdates) {
      if (c) this.#chunked.set(id, c);
      else this.#chunked.delete(id);
    }
    for (const g of replaced) await this.#collect(g);
  }

  async #writeChunks(value: Uint8Array): Promise<ChunkedRecord> {
    const gen = crypto.getRandomValues(new Uint8Array(12)).toHex();
    const n = Math.ceil(value.length / VALUE_LIMIT);
    // the marker goes first so a crash mid-way leaves collectable chunks, not leaks
    await this.#kv.set(["p", gen], n);
    for (let i = 0; i < n; i += CHUNKS_PER_COMMIT) {
      const atomic = this.#kv.atomic();
      for (let j = i; j < Math.min(n, i + CHUNKS_PER_COMMIT); j++) {
        atomic.set(["c", gen, j], value.slice(j * VALUE_LIMIT, (j + 1) * VALUE_LIMIT));
      }
      await atomic.commit();
    }
    return { gen, n, len: value.length };
  }

  /** Delete a generation's chunks, then its marker. */
  async #collect(c: Chunked): Promise<void> {
    for (let i = 0; i < c.n; i += DELETES_PER_COMMIT) {
      const atomic = this.#kv.atomic();
      for (let j = i; j < Math.min(c.n, i + DELETES_PER_COMMIT); j++) {
        atomic.delete(["c", c.gen, j]);
      }
      await atomic.commit();
    }
    await this.#kv.delete(["p", c.gen]);
  }
}
