// Both ends of a direct channel between two process Workers (protocol.ts,
// ../channels.ts): a shared-memory ring (ring.ts) carrying codec.ts records,
// plus a MessagePort for what does not fit, merged in send order by a
// per-channel sequence number, as the kernel's lanes are. Before the ring, each
// message crossed by structured clone on the port: a trace of one round trip
// showed posting and taking those (serialize, the port's channel, the
// receiver's receiveMessageOnPort walk) as ~70% of the time.

import { decodeSends, encodeSends, Reader, type Writer } from "./codec.ts";
import { DELIVERED, fromWire, type OutgoingMessage, PARKED, toWire } from "./protocol.ts";
import { Ring, RING_PORT_COUNT } from "./ring.ts";
import { receiveMessageOnPort } from "node:worker_threads";

/** The sending end, held by the source process. */
export class PeerSender {
  private readonly ring: Ring;
  private readonly signal: Int32Array;
  private seq = 0;

  constructor(ring: SharedArrayBuffer, readonly port: MessagePort, signal: SharedArrayBuffer) {
    this.ring = new Ring(ring);
    this.signal = new Int32Array(signal);
  }

  /** Puts `m` into the target's inbox and wakes the target if it is parked. */
  send(w: Writer, m: OutgoingMessage): void {
    const seq = this.seq;
    this.seq = (seq + 1) >>> 0;
    const ring = this.ring;
    if (!(encodeSends(w, [m]) && w.pos <= ring.maxPayload && ring.write(seq, w.bytes))) {
      const moved: Transferable[] = [];
      this.port.postMessage({ seq, m: toWire(m, moved) }, moved);
      Atomics.add(ring.ctl, RING_PORT_COUNT, 1);
    }
    const signal = this.signal;
    Atomics.add(signal, DELIVERED, 1);
    Atomics.add(signal, 0, 1);
    // the target sets PARKED before its wait re-checks the counter (protocol.ts)
    if (Atomics.load(signal, PARKED) !== 0) Atomics.notify(signal, 0);
  }

  close(): void {
    this.port.close();
  }
}

/** The receiving end, held by the target process. */
export class PeerInbox {
  private readonly ring: Ring;
  private readonly reader: Reader;
  private seq = 0;
  private portTaken = 0;
  private portHead?: { seq: number; m: OutgoingMessage };

  constructor(ring: SharedArrayBuffer, readonly port: MessagePort) {
    this.ring = new Ring(ring);
    this.reader = new Reader(this.ring.bytes);
  }

  /**
   * The next message on the channel, or undefined. Throws on a malformed
   * record (only a broken sender writes one): the caller closes the channel.
   */
  take(): OutgoingMessage | undefined {
    const ring = this.ring;
    const rec = ring.peek();
    if (rec !== undefined && rec.seq === this.seq) {
      const msgs = decodeSends(this.reader.at(rec.offset, rec.length));
      ring.consume(rec.next);
      this.seq = (this.seq + 1) >>> 0;
      if (msgs.length !== 1) throw new RangeError("one message per record");
      return msgs[0];
    }
    if (this.portHead === undefined && Atomics.load(ring.ctl, RING_PORT_COUNT) !== this.portTaken) {
      const got = receiveMessageOnPort(
        this.port as unknown as Parameters<typeof receiveMessageOnPort>[0],
      );
      if (got) {
        this.portTaken = (this.portTaken + 1) | 0;
        this.portHead = got.message as { seq: number; m: OutgoingMessage };
      }
    }
    const head = this.portHead;
    if (head !== undefined && head.seq === this.seq) {
      this.portHead = undefined;
      this.seq = (this.seq + 1) >>> 0;
      return fromWire(head.m);
    }
    return undefined;
  }

  close(): void {
    this.port.close();
  }
}
