// An established, encrypted connection with one peer: sends KernelMessages and
// reads them, checking each one's source node against the peer it came from.
// Any failure (bad frame, failed decrypt, undecodable message, spoofed source)
// closes this connection only.
//
// What it could not deliver goes back to its owner (the peer table) when it ends:
// - unsent: messages the link never finished writing (the peer cannot have read them);
// - refused: on a connection we dialed, what we wrote before the peer closed it
//   without ever sending us anything, within `confirmMs` of the handshake. In XX the
//   initiator's last handshake message gets no answer, so a responder that rejects
//   us after reading it (say, our name is not yet in its PKI) just closes the socket
//   and never reads what we sent.

import { checkProcessId, type KernelMessage } from "../wire/core.ts";
import { decodeKernelMessage, encodeKernelMessageParts } from "./codec.ts";
import { BIN_BYTES_EXTENSION, type Session } from "./handshake.ts";
import { returnBuffer } from "./buffers.ts";
import { IDLE_TIMEOUT_MS, type Link, MESSAGE_PREFIX } from "./link.ts";
import type { CipherState } from "./noise.ts";

/** What a connection could not deliver (see the header). */
export interface Undelivered {
  unsent: KernelMessage[];
  refused: KernelMessage[];
}

export interface ConnectionHandlers {
  /** A verified message from the peer. */
  onMessage(km: KernelMessage, conn: PeerConnection): void;
  /** The connection ended (after its link is closed); `lost` is what it did not deliver. */
  onClose(conn: PeerConnection, reason: string, lost: Undelivered): void;
  /** A message found unsent after onClose (handed to send() once the connection ended). */
  onUnsent?(km: KernelMessage, conn: PeerConnection): void;
  print(verbosity: number, text: string): void;
}

export class PeerConnection {
  readonly peerName: string;
  readonly link: Link;
  readonly #send: CipherState;
  readonly #recv: CipherState;
  readonly #handlers: ConnectionHandlers;
  readonly #idleMs: number;
  /** The peer reads Vec<u8> as msgpack bin (a hyperdeno wire extension). */
  readonly binBytes: boolean;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closing = false;
  /** onClose has run: unsent messages go to onUnsent. */
  #ended = false;
  /** Messages written while the peer has not yet shown it accepted us (dialed only). */
  #unconfirmed: KernelMessage[] | undefined;
  #confirmTimer: ReturnType<typeof setTimeout> | undefined;
  /** Unsent messages with their send order (the link reports them out of order). */
  readonly #unsent: { seq: number; km: KernelMessage }[] = [];
  #sent = 0;
  /** Resolves when the read loop has ended and the link is closed. */
  readonly done: Promise<void>;

  /**
   * `confirmMs` > 0 (connections we dialed): what is written in that long after the
   * handshake, before the peer sends anything, is kept until the peer sends something
   * or the time is up, and handed back as `refused` if the peer closes first.
   */
  constructor(
    session: Session,
    peerName: string,
    handlers: ConnectionHandlers,
    idleMs = IDLE_TIMEOUT_MS,
    confirmMs = 0,
  ) {
    this.peerName = peerName;
    this.link = session.link;
    this.#send = session.send;
    this.#recv = session.recv;
    this.binBytes = session.peerExtensions.has(BIN_BYTES_EXTENSION);
    this.#handlers = handlers;
    this.#idleMs = idleMs;
    if (confirmMs > 0) {
      this.#unconfirmed = [];
      this.#confirmTimer = setTimeout(() => this.#confirm(), confirmMs);
    }
    this.#touch();
    this.done = this.#readLoop();
  }

  /** The peer accepted us (it sent something), or had time enough to refuse. */
  #confirm(): void {
    clearTimeout(this.#confirmTimer);
    this.#unconfirmed = undefined;
  }

  get isClosed(): boolean {
    return this.#closing || this.link.isClosed;
  }

  #touch(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closing) return;
    this.#idleTimer = setTimeout(() => {
      this.#handlers.print(2, `net: closing idle connection with ${this.peerName}`);
      this.close();
    }, this.#idleMs);
  }

  /**
   * Encrypt and send; throws FrameError (connection kept) if the message is too large.
   * On a closed connection the message is unsent (handed back, never dropped).
   */
  send(km: KernelMessage): void {
    const seq = this.#sent++;
    if (this.isClosed) return this.#notWritten(km, seq);
    // a blob sent as bin is not copied into the message: it follows the head as the tail
    const { head, tail } = encodeKernelMessageParts(km, MESSAGE_PREFIX, this.binBytes);
    // kept before the link sees it: a WS link reports "not written" synchronously
    this.#unconfirmed?.push(km);
    try {
      this.link.sendMessage(this.#send, head, tail, (written) => {
        returnBuffer(head);
        if (!written) this.#notWritten(km, seq);
      });
    } catch (e) {
      this.#forget(km); // too large: dropped, as Hyperdrive does
      throw e;
    }
    this.#touch();
  }

  #forget(km: KernelMessage): void {
    const i = this.#unconfirmed?.lastIndexOf(km) ?? -1;
    if (i >= 0) this.#unconfirmed!.splice(i, 1);
  }

  #notWritten(km: KernelMessage, seq: number): void {
    this.#forget(km);
    if (this.#ended) this.#handlers.onUnsent?.(km, this);
    else this.#unsent.push({ seq, km });
  }

  async #readLoop(): Promise<void> {
    let reason = "connection lost";
    let byPeer = false;
    try {
      while (!this.#closing) {
        const bytes = await this.link.recvMessage(this.#recv);
        // a blob sent as bin stays a view of the received buffer (one copy less);
        // otherwise the message copied what it keeps and the buffer is recycled
        const decoding = { viewBins: true, viewed: false };
        let km: KernelMessage;
        try {
          km = decodeKernelMessage(bytes, decoding);
        } finally {
          if (!decoding.viewed) returnBuffer(bytes);
        }
        if (km.source.node !== this.peerName) {
          reason = `got message with spoofed source from ${this.peerName}!`;
          this.#handlers.print(0, `net: ${reason}`);
          break;
        }
        try {
          checkProcessId(km.source.process);
        } catch {
          reason = `got message from non-Hypermap-safe process: ${km.source.process.processName}`;
          this.#handlers.print(0, `net: ${reason}`);
          break;
        }
        this.#touch();
        if (this.#unconfirmed) this.#confirm();
        this.#handlers.onMessage(km, this);
      }
    } catch (e) {
      if (!this.#closing) {
        byPeer = true;
        reason = (e as Error).message;
        this.#handlers.print(2, `net: error receiving message from ${this.peerName}: ${reason}`);
      }
    }
    this.#closing = true;
    clearTimeout(this.#idleTimer);
    // after this every message handed to the link has been written or is in #unsent
    await this.link.close();
    const refused = byPeer ? this.#unconfirmed ?? [] : [];
    this.#confirm();
    if (refused.length > 0) {
      this.#handlers.print(
        2,
        `net: ${this.peerName} closed our new connection without a word: ${refused.length} ` +
          `message(s) sent on it were not read`,
      );
    }
    this.#handlers.print(2, `net: connection lost with ${this.peerName}`);
    this.#ended = true;
    const unsent = this.#unsent.splice(0).sort((x, y) => x.seq - y.seq).map((u) => u.km);
    this.#handlers.onClose(this, reason, { unsent, refused });
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#idleTimer);
    await this.link.close();
    await this.done;
  }
}
