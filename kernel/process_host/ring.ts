// A single-producer single-consumer byte ring in a SharedArrayBuffer: the
// fast path for messages between the kernel thread and a process Worker.
// Copying encoded bytes into shared memory costs a fraction of a MessagePort
// post (structured clone, a channel send and, on the kernel side, an event per
// message); see protocol.ts for how the ring, the port and the wake-ups fit.
//
// Records are [u32 length][u32 seq][payload], 8-byte aligned, never split
// across the end: a record that does not fit there is preceded by a wrap
// marker and starts again at offset 0. Positions are free-running u32
// counters (capacity is a power of two), stored with Atomics so a record's
// bytes are visible before its position is published.

const HEADER = 64;
const WRITE = 0; // Int32 index: bytes ever written (mod 2^32)
const READ = 1; // Int32 index: bytes ever consumed (mod 2^32)
/** Int32 index free for the owner's own flag (the kernel's doorbell). */
export const RING_FLAG = 2;
/** Int32 index: items the producer sent by port instead (so the consumer polls the port only then). */
export const RING_PORT_COUNT = 3;
const WRAP = 0xffffffff;

export class Ring {
  readonly ctl: Int32Array;
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly mask: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, HEADER / 4);
    this.bytes = new Uint8Array(sab, HEADER);
    this.view = new DataView(sab, HEADER);
    this.mask = this.bytes.length - 1;
  }

  /** A ring with `capacity` data bytes (a power of two). */
  static create(capacity: number): Ring {
    if (capacity & (capacity - 1)) throw new Error("ring capacity must be a power of two");
    return new Ring(new SharedArrayBuffer(HEADER + capacity));
  }

  /** Largest payload worth putting in the ring; bigger ones go by port. */
  get maxPayload(): number {
    return this.bytes.length >>> 3;
  }

  /**
   * Producer: copies `payload` in as one record. Returns false (and writes
   * nothing) when the ring has no room; the caller then uses the port.
   */
  write(seq: number, payload: Uint8Array): boolean {
    const need = (8 + payload.length + 7) & ~7;
    const cap = this.bytes.length;
    const w = Atomics.load(this.ctl, WRITE) >>> 0;
    const r = Atomics.load(this.ctl, READ) >>> 0;
    const free = cap - ((w - r) >>> 0);
    const at = w & this.mask;
    const tail = cap - at;
    let start = w;
    if (tail < need) {
      // not enough room before the end: skip the tail (it needs a wrap marker)
      if (free < tail + need) return false;
      this.view.setUint32(at, WRAP, true);
      start = (w + tail) >>> 0;
    } else if (free < need) {
      return false;
    }
    const o = start & this.mask;
    this.view.setUint32(o, payload.length, true);
    this.view.setUint32(o + 4, seq, true);
    this.bytes.set(payload, o + 8);
    Atomics.store(this.ctl, WRITE, (start + need) | 0);
    return true;
  }

  /**
   * Consumer: the next record's seq and where its payload lies in `bytes`,
   * or undefined when the ring is empty. The record stays until consume().
   */
  peek(): { seq: number; offset: number; length: number; next: number } | undefined {
    const w = Atomics.load(this.ctl, WRITE) >>> 0;
    let r = Atomics.load(this.ctl, READ) >>> 0;
    if (w === r) return undefined;
    let o = r & this.mask;
    let length = this.view.getUint32(o, true);
    if (length === WRAP) {
      r = (r + (this.bytes.length - o)) >>> 0;
      Atomics.store(this.ctl, READ, r | 0);
      if (w === r) return undefined;
      o = 0;
      length = this.view.getUint32(0, true);
    }
    if (length > this.bytes.length - o - 8) throw new RangeError("ring record overruns the ring");
    const seq = this.view.getUint32(o + 4, true);
    return { seq, offset: o + 8, length, next: (r + ((8 + length + 7) & ~7)) >>> 0 };
  }

  /** Consumer: frees the record peek() returned. */
  consume(next: number): void {
    Atomics.store(this.ctl, READ, next | 0);
  }
}
