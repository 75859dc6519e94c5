// An established, encrypted connection with one peer: sends KernelMessages and
// reads them, checking each one's source node against the peer it came from.
// Any failure (bad frame, failed decrypt, undecodable message, spoofed source)
// closes this connection only.

import { checkProcessId, type KernelMessage } from "../wire/core.ts";
import { decodeKernelMessage, encodeKernelMessageParts } from "./codec.ts";
import { BIN_BYTES_EXTENSION, type Session } from "./handshake.ts";
import { returnBuffer } from "./buffers.ts";
import { IDLE_TIMEOUT_MS, type Link, MESSAGE_PREFIX } from "./link.ts";
import type { CipherState } from "./noise.ts";

export interface ConnectionHandlers {
  /** A verified message from the peer. */
  onMessage(km: KernelMessage, conn: PeerConnection): void;
  /** The connection ended (after its link is closed). */
  onClose(conn: PeerConnection, reason: string): void;
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
  /** Resolves when the read loop has ended and the link is closed. */
  readonly done: Promise<void>;

  constructor(
    session: Session,
    peerName: string,
    handlers: ConnectionHandlers,
    idleMs = IDLE_TIMEOUT_MS,
  ) {
    this.peerName = peerName;
    this.link = session.link;
    this.#send = session.send;
    this.#recv = session.recv;
    this.binBytes = session.peerExtensions.has(BIN_BYTES_EXTENSION);
    this.#handlers = handlers;
    this.#idleMs = idleMs;
    this.#touch();
    this.done = this.#readLoop();
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

  /** Encrypt and send; throws FrameError (connection kept) if the message is too large. */
  send(km: KernelMessage): void {
    // a blob sent as bin is not copied into the message: it follows the head as the tail
    const { head, tail } = encodeKernelMessageParts(km, MESSAGE_PREFIX, this.binBytes);
    this.link.sendMessage(this.#send, head, tail, () => returnBuffer(head));
    this.#touch();
  }

  async #readLoop(): Promise<void> {
    let reason = "connection lost";
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
        this.#handlers.onMessage(km, this);
      }
    } catch (e) {
      if (!this.#closing) {
        reason = (e as Error).message;
        this.#handlers.print(2, `net: error receiving message from ${this.peerName}: ${reason}`);
      }
    }
    this.#closing = true;
    clearTimeout(this.#idleTimer);
    await this.link.close();
    this.#handlers.print(2, `net: connection lost with ${this.peerName}`);
    this.#handlers.onClose(this, reason);
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#idleTimer);
    await this.link.close();
    await this.done;
  }
}
