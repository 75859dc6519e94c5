// Direct channels from a process Worker to a runtime module's own Worker (sqlite's db
// Workers), opened by the module through the kernel (../channels.ts) once a request of
// the process has passed its checks there, so later requests of the same kind skip the
// kernel's thread both ways: the process writes codec.ts records into the request ring
// and rings the module Worker's bell; the module Worker answers into a peer.ts channel
// into the process's inbox, exactly as a peer process would.
//
// Unlike a peer channel, either end closes the request ring at any time: the kernel (the
// process's caps changed, it exited, a debug switch), the module (its Worker retires)
// or the process's glue (it must send something through the kernel that has to stay in
// order). Closing is one flag in the ring, guarded against a record half written: the
// writer takes the flag OPEN -> WRITING for each record and puts it back; a closer moves
// it OPEN -> CLOSED, waiting out a writer. The reader then drains what is left and drops
// the channel; the writer sees CLOSED and sends through the kernel from then on.

import { decodeSends, encodeSends, Reader, type Writer } from "./codec.ts";
import { type ModuleRoute, type OutgoingMessage, wallClock } from "./protocol.ts";
import { Ring, RING_FLAG } from "./ring.ts";
import { PeerSender } from "./peer.ts";
import type { ModuleChannelEnd } from "../module.ts";

/** Data bytes of a module channel's request ring; a record over 1/8 of it goes by the kernel. */
export const MODULE_RING_BYTES = 64 * 1024;
/** The largest record a module channel takes (the ring's maxPayload). */
export const MODULE_RECORD_BYTES = MODULE_RING_BYTES >>> 3;

const OPEN = 0;
const WRITING = 1;
const CLOSED = 2;

/** The module Worker's wake buffer: Int32 [0] bell (bumped per record), [1] parked. */
export const BELL = 0;
export const BELL_PARKED = 1;
export const WAKE_BYTES = 8;

/** A writer killed mid-record leaves WRITING; a closer gives up waiting after this many tries. */
const CLOSE_SPINS = 1 << 20;

/** Rings `wake`'s bell, waking its Worker if parked. */
export function ringBell(wake: Int32Array): void {
  Atomics.add(wake, BELL, 1);
  if (Atomics.load(wake, BELL_PARKED) !== 0) Atomics.notify(wake, BELL);
}

/** Closes the request ring `ring` (idempotent) and wakes its reader so it drains and drops it. */
export function closeModuleChannel(ring: SharedArrayBuffer, wake: SharedArrayBuffer): void {
  const ctl = new Int32Array(ring, 0, 4);
  for (let i = 0; i < CLOSE_SPINS; i++) {
    const was = Atomics.compareExchange(ctl, RING_FLAG, OPEN, CLOSED);
    if (was !== WRITING) break;
  }
  Atomics.store(ctl, RING_FLAG, CLOSED);
  ringBell(new Int32Array(wake));
}

/** Whether the request ring `ring` is closed. */
export function moduleChannelClosed(ring: SharedArrayBuffer): boolean {
  return Atomics.load(new Int32Array(ring, 0, 4), RING_FLAG) === CLOSED;
}

/** The process's end: writes requests into the ring. */
export class ModuleChannelWriter {
  private readonly ring: Ring;
  private readonly wake: Int32Array;
  private seq = 0;

  constructor(ring: SharedArrayBuffer, wake: SharedArrayBuffer) {
    this.ring = new Ring(ring);
    this.wake = new Int32Array(wake);
  }

  /** "sent"; "closed" (the channel is gone: use the kernel from now on); "full" (use the kernel this time). */
  send(w: Writer, m: OutgoingMessage): "sent" | "closed" | "full" {
    const ctl = this.ring.ctl;
    if (Atomics.compareExchange(ctl, RING_FLAG, OPEN, WRITING) !== OPEN) return "closed";
    const ok = encodeSends(w, [m]) && w.pos <= this.ring.maxPayload &&
      this.ring.write(this.seq, w.bytes);
    Atomics.store(ctl, RING_FLAG, OPEN);
    if (!ok) return "full";
    this.seq = (this.seq + 1) >>> 0;
    ringBell(this.wake);
    return "sent";
  }

  close(): void {
    closeModuleChannel(this.ring.sab, this.wake.buffer as SharedArrayBuffer);
  }
}

/** The module Worker's end: takes requests from the ring. */
export class ModuleChannelReader {
  private readonly ring: Ring;
  private readonly reader: Reader;
  private seq = 0;

  constructor(ring: SharedArrayBuffer) {
    this.ring = new Ring(ring);
    this.reader = new Reader(this.ring.bytes);
  }

  /** The next request, or undefined. Throws on a malformed record (the caller drops the channel). */
  take(): OutgoingMessage | undefined {
    const rec = this.ring.peek();
    if (rec === undefined) return undefined;
    if (rec.seq !== this.seq) throw new RangeError("module channel record out of sequence");
    const msgs = decodeSends(this.reader.at(rec.offset, rec.length));
    this.ring.consume(rec.next);
    this.seq = (this.seq + 1) >>> 0;
    if (msgs.length !== 1) throw new RangeError("one message per record");
    return msgs[0];
  }

  /** Closed by someone and drained: the reader may drop it. */
  get done(): boolean {
    return Atomics.load(this.ring.ctl, RING_FLAG) === CLOSED && this.ring.peek() === undefined;
  }
}

/**
 * A module Worker's end of one module channel: the process's requests in, answers out
 * into its inbox (a peer.ts channel, exactly as a peer process answers), and the rights
 * the module checked when it opened the channel.
 */
export class ServedChannel {
  readonly reader: ModuleChannelReader;
  readonly answers: PeerSender;
  readonly ring: SharedArrayBuffer;
  readonly process: ModuleChannelEnd["process"];

  constructor(
    end: ModuleChannelEnd,
    readonly route: ModuleRoute,
    readonly read: boolean,
    readonly write: boolean,
    readonly id = 0,
  ) {
    this.reader = new ModuleChannelReader(end.ring);
    this.answers = new PeerSender(end.reply, end.port, end.signal);
    this.ring = end.ring;
    this.process = end.process;
  }

  /**
   * The next request; undefined when none waits; null once the channel is closed and
   * drained, or broken (a malformed record: it is closed), when its answers are closed
   * too and the Worker drops it. `wake` is the Worker's own bell.
   */
  next(wake: SharedArrayBuffer): OutgoingMessage | undefined | null {
    let m: OutgoingMessage | undefined;
    try {
      m = this.reader.take();
    } catch {
      closeModuleChannel(this.ring, wake);
      this.answers.close();
      return null;
    }
    if (m === undefined && this.reader.done) {
      this.answers.close();
      return null;
    }
    return m;
  }

  /** Whether a request body's package and db are the ones this channel was opened for. */
  names(pkg: { packageName: string; publisherNode: string }, db: string): boolean {
    const r = this.route;
    return db === r.db && pkg.packageName === r.packageName &&
      pkg.publisherNode === r.publisherNode;
  }

  /** Answers request `m` with `body` and `blob`; an error answer carries no metadata. */
  answer(
    w: Writer,
    m: OutgoingMessage,
    body: Uint8Array,
    blob: Uint8Array | undefined,
    failed: boolean,
    at = wallClock(),
  ): void {
    const metadata = m.message.tag === "request" && !failed ? m.message.val.metadata : undefined;
    this.answers.send(w, {
      id: m.id,
      target: this.process,
      message: {
        tag: "response",
        val: [{ inherit: false, body, metadata, capabilities: [] }, undefined],
      },
      lazyLoadBlob: blob ? { mime: "application/octet-stream", bytes: blob } : undefined,
      at,
    });
  }
}
