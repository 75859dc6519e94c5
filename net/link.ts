// A Link is one transport connection (TCP or WebSocket) with Hyperdrive's framing:
// raw frames for the routing request and the Noise handshake, then encrypted
// protocol messages, or raw relaying when a router splices two links together.

import type { CipherState } from "./noise.ts";

/** Largest serialized KernelMessage sent or accepted (Hyperdrive's MESSAGE_MAX_SIZE). */
export const MESSAGE_MAX_SIZE = 10_485_800;
/** Plaintext bytes per Noise transport message: 65535 - 16 (tag). */
export const CHUNK_PLAINTEXT = 65519;
/** Handshake, connect and routing timeout (Hyperdrive's TIMEOUT). */
export const TIMEOUT_MS = 5000;
/** Idle connections are closed after 30 minutes (Hyperdrive's IDLE_TIMEOUT). */
export const IDLE_TIMEOUT_MS = 30 * 60 * 1000;
/**
 * Bytes a caller reserves at the front of a serialized message handed to
 * sendMessage: WS puts the u32 length there (it is encrypted with the message),
 * TCP sends the length in the clear and skips them.
 */
export const MESSAGE_PREFIX = 4;

export type LinkKind = "tcp" | "ws";

export class LinkClosedError extends Error {
  constructor(message = "connection closed") {
    super(message);
    this.name = "LinkClosedError";
  }
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/** A listening socket of either transport: its bound port, and how to stop it. */
export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

export interface Link {
  readonly kind: LinkKind;
  /** "host:port" of the other end, for log lines. */
  readonly remote: string;
  readonly isClosed: boolean;
  /** Resolves once the link is closed and its resources are released. */
  readonly closed: Promise<void>;
  /** Raw frame (routing request, handshake message): TCP u16-BE length + bytes; WS one Binary message. */
  sendRaw(frame: Uint8Array): Promise<void>;
  recvRaw(): Promise<Uint8Array>;
  /**
   * Encrypt and queue one protocol message. `framed` holds MESSAGE_PREFIX reserved
   * bytes then the serialized KernelMessage. Encryption happens before this
   * returns, so call order is nonce order. Throws FrameError if too large.
   */
  sendMessage(cipher: CipherState, framed: Uint8Array): void;
  /** Read and decrypt one protocol message: the serialized KernelMessage. */
  recvMessage(cipher: CipherState): Promise<Uint8Array>;
  /** Relay raw traffic both ways with a link of the same kind until either side ends. */
  splice(other: Link): Promise<void>;
  close(): Promise<void>;
}

/** Run `p`, closing `link` (which fails p) if it takes longer than `ms`. */
export async function withTimeout<T>(link: Link, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      link.close();
      reject(new LinkClosedError("timed out"));
    }, ms);
  });
  try {
    return await Promise.race([p, guard]);
  } catch (e) {
    throw timedOut ? new LinkClosedError("timed out") : e;
  } finally {
    clearTimeout(timer);
    p.catch(() => {});
  }
}

export function checkMessageSize(framed: Uint8Array): void {
  if (framed.length - MESSAGE_PREFIX > MESSAGE_MAX_SIZE) {
    throw new FrameError(
      `message too large: limit is ${(MESSAGE_MAX_SIZE / 1_048_576).toFixed(2)}mb`,
    );
  }
}
