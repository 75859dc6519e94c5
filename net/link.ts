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
   * Encrypt and send one protocol message: `framed` holds MESSAGE_PREFIX reserved
   * bytes then the serialized KernelMessage, or its head when `tail` (the rest
   * of it, typically a blob's bytes) is given. Messages are encrypted and written
   * in call order (which is nonce order); a large one may be encrypted in slices
   * while earlier slices are on the wire, so `framed` and `tail` must stay
   * unchanged until `onSealed` is called (also called if the link closes first).
   * `written` is false when the link closed before the whole message was handed
   * to the socket: the peer cannot have read it. Every message given before
   * close() has had its onSealed by the time close() resolves.
   * Throws FrameError if too large.
   */
  sendMessage(
    cipher: CipherState,
    framed: Uint8Array,
    tail?: Uint8Array,
    onSealed?: (written: boolean) => void,
  ): void;
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

/** Resolve the dial `p` within `ms`, or fail (closing whatever `p` yields late). */
export async function connectWithin<T extends Link>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("connect timed out")), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (e) {
    p.then((l) => l.close(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

export function checkMessageSize(framed: Uint8Array, tail?: Uint8Array): void {
  if (framed.length - MESSAGE_PREFIX + (tail?.length ?? 0) > MESSAGE_MAX_SIZE) {
    throw new FrameError(
      `message too large: limit is ${(MESSAGE_MAX_SIZE / 1_048_576).toFixed(2)}mb`,
    );
  }
}

// the one chunk of a message that spans head and tail is assembled here
const straddle = new Uint8Array(CHUNK_PLAINTEXT);

/**
 * The plaintext of `head` followed by `tail`, in views of at most `size` bytes
 * (CHUNK_PLAINTEXT or less). Each view is valid until the next one is taken.
 */
export function* plaintextChunks(
  head: Uint8Array,
  tail: Uint8Array | undefined,
  size = CHUNK_PLAINTEXT,
): Generator<Uint8Array> {
  let off = 0;
  for (; off + size <= head.length; off += size) yield head.subarray(off, off + size);
  if (tail === undefined || tail.length === 0) {
    if (off < head.length) yield head.subarray(off);
    return;
  }
  let tailOff = 0;
  if (off < head.length) {
    const rest = head.length - off;
    tailOff = Math.min(size - rest, tail.length);
    straddle.set(head.subarray(off), 0);
    straddle.set(tail.subarray(0, tailOff), rest);
    yield straddle.subarray(0, rest + tailOff);
  }
  for (; tailOff < tail.length; tailOff += size) yield tail.subarray(tailOff, tailOff + size);
}
