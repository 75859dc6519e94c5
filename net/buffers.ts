// Big buffers on the bulk path. On this kind of machine (a VM) first touching a
// fresh page costs ~1.5 µs, so a new 4 MiB buffer costs ~1.6 ms of page faults,
// half as much as decrypting the data put in it. So frame and message buffers
// nothing keeps are recycled, and a fresh buffer has its pages touched from JS
// before any copy into it (faults taken inside TypedArray.set were 7x slower:
// 2.7 ms vs 0.37 ms for 4 MiB). Faulting buffers in ahead on a helper Worker was
// tried and gained nothing on 2 cores (the faults only moved to the other core).
// Raising glibc's mmap threshold (mallopt through FFI) so freed blob memory
// would be reused was also measured: no gain in the bulk benchmark.

const PAGE = 4096;
const POOL_MIN = 256 * 1024;
const POOL_MAX_BUFFERS = 4;

const pool: ArrayBuffer[] = [];

/** Where takeBuffer's large buffers came from (for tests and diagnostics). */
export const bufferStats = { recycled: 0, fresh: 0 };

/** A new zeroed buffer whose pages are already faulted in. */
export function freshBuffer(n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (n >= 1 << 16) {
    for (let i = 0; i < n; i += PAGE) b[i] = 0;
  }
  return b;
}

/** n bytes, not zeroed when recycled (callers overwrite all of them). */
export function takeBuffer(n: number): Uint8Array {
  if (n >= POOL_MIN) {
    for (let i = 0; i < pool.length; i++) {
      // no more than 2x the need, so a small message does not pin a huge buffer
      if (pool[i].byteLength >= n && pool[i].byteLength <= 2 * n) {
        const [b] = pool.splice(i, 1);
        bufferStats.recycled++;
        return new Uint8Array(b, 0, n);
      }
    }
  }
  if (n >= POOL_MIN) bufferStats.fresh++;
  return freshBuffer(n);
}

/** Give back a buffer from takeBuffer once nothing refers to it any more. */
export function returnBuffer(view: Uint8Array): void {
  const b = view.buffer;
  if (!(b instanceof ArrayBuffer) || b.byteLength < POOL_MIN || pool.includes(b)) return;
  if (pool.length >= POOL_MAX_BUFFERS) pool.shift();
  pool.push(b);
}
