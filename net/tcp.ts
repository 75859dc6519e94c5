// TCP links, framed as Hyperdrive's net/tcp/utils.rs:
// - raw frame (routing request, handshake): u16 BE length, then the bytes;
// - protocol message: u32 BE plaintext length (in the clear), then for each
//   65519-byte plaintext chunk: u16 BE ciphertext length, then the ciphertext.

import {
  checkMessageSize,
  CHUNK_PLAINTEXT,
  FrameError,
  type Link,
  LinkClosedError,
  type Listener,
  MESSAGE_MAX_SIZE,
  MESSAGE_PREFIX,
  plaintextChunks,
} from "./link.ts";
import { returnBuffer, takeBuffer } from "./buffers.ts";
import { type CipherState, TAGLEN } from "./noise.ts";

const READ_BUFFER = 1 << 17;
// Once a large message arrives, read in bigger slices: fewer read ops per MB.
const BULK_READ_BUFFER = 1 << 20;

// Chunks encrypted between writes of a large message (~1 MiB).
const SLICE_CHUNKS = 16;
// Small messages queued while a write is in progress go out together: sealed one
// after another into one buffer (each framed as usual) and written with one write.
const BATCH_MESSAGE_MAX = CHUNK_PLAINTEXT;
const BATCH_BYTES_MAX = 256 * 1024;

interface OutgoingMessage {
  cipher: CipherState;
  framed: Uint8Array;
  tail: Uint8Array | undefined;
  onSealed: ((written: boolean) => void) | undefined;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

export class TcpLink implements Link {
  readonly kind = "tcp" as const;
  readonly remote: string;
  readonly closed: Promise<void>;
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(READ_BUFFER);
  #start = 0;
  #end = 0;
  #writeTail: Promise<void> = Promise.resolve();
  readonly #outbox: OutgoingMessage[] = [];
  #sending = false;
  /** The running drain of the outbox (close() waits for it). */
  #draining: Promise<void> = Promise.resolve();
  #isClosed = false;
  #resolveClosed!: () => void;
  #reading: Promise<unknown> = Promise.resolve();

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    const addr = conn.remoteAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    try {
      conn.setNoDelay(true);
      conn.setKeepAlive(true);
    } catch {
      // not fatal: the socket works without these options
    }
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Read exactly n bytes; the view is valid until the next read. */
  async #readExact(n: number): Promise<Uint8Array> {
    if (this.#end - this.#start < n) {
      if (this.#buf.length - this.#start < n) {
        if (this.#buf.length >= n) {
          this.#buf.copyWithin(0, this.#start, this.#end);
        } else {
          const grown = new Uint8Array(Math.max(n, 2 * this.#buf.length));
          grown.set(this.#buf.subarray(this.#start, this.#end));
          this.#buf = grown;
        }
        this.#end -= this.#start;
        this.#start = 0;
      }
      while (this.#end - this.#start < n) {
        if (this.#isClosed) throw new LinkClosedError();
        let got: number | null;
        try {
          const read = this.#conn.read(this.#buf.subarray(this.#end));
          this.#reading = read;
          got = await read;
        } catch {
          throw new LinkClosedError();
        }
        if (got === null) throw new LinkClosedError("connection closed by peer");
        this.#end += got;
      }
    }
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  #write(data: Uint8Array): Promise<void> {
    if (this.#isClosed) return Promise.reject(new LinkClosedError());
    const next = this.#writeTail.then(() => {
      if (this.#isClosed) throw new LinkClosedError();
      return writeAll(this.#conn, data);
    });
    // a failed write closes the link; later writes then fail fast
    this.#writeTail = next.catch(() => {
      this.close();
    });
    return next;
  }

  async sendRaw(frame: Uint8Array): Promise<void> {
    if (frame.length > 0xffff) throw new FrameError("raw frame longer than 65535 bytes");
    const out = new Uint8Array(2 + frame.length);
    new DataView(out.buffer).setUint16(0, frame.length);
    out.set(frame, 2);
    await this.#write(out);
  }

  async recvRaw(): Promise<Uint8Array> {
    const head = await this.#readExact(2);
    const len = (head[0] << 8) | head[1];
    return (await this.#readExact(len)).slice();
  }

  sendMessage(
    cipher: CipherState,
    framed: Uint8Array,
    tail?: Uint8Array,
    onSealed?: (written: boolean) => void,
  ): void {
    checkMessageSize(framed, tail);
    this.#outbox.push({ cipher, framed, tail, onSealed });
    // runs synchronously up to its first write, so a small message is on its way at once
    if (!this.#sending) this.#draining = this.#drainOutbox();
  }

  async #drainOutbox(): Promise<void> {
    this.#sending = true;
    try {
      for (let job = this.#outbox.shift(); job; job = this.#outbox.shift()) {
        const batch = isSmall(job) && isSmall(this.#outbox[0]) ? this.#takeBatch(job) : [job];
        let written = false;
        try {
          if (!this.#isClosed) {
            await (batch.length > 1 ? this.#sealAndWriteBatch(batch) : this.#sealAndWrite(job));
            written = true;
          }
        } catch {
          // #write has closed the link; what is still queued is dropped below
        } finally {
          for (const j of batch) j.onSealed?.(written);
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  /** `first` and the small messages queued right behind it, up to BATCH_BYTES_MAX. */
  #takeBatch(first: OutgoingMessage): OutgoingMessage[] {
    const batch = [first];
    let bytes = sealedSize(first);
    while (isSmall(this.#outbox[0]) && bytes + sealedSize(this.#outbox[0]) <= BATCH_BYTES_MAX) {
      const next = this.#outbox.shift()!;
      bytes += sealedSize(next);
      batch.push(next);
    }
    return batch;
  }

  /** Seal small messages, in order, into one buffer and write it at once. */
  async #sealAndWriteBatch(batch: OutgoingMessage[]): Promise<void> {
    let size = 0;
    for (const job of batch) size += sealedSize(job);
    const out = takeBuffer(size);
    let at = 0;
    for (const job of batch) at = sealInto(job, out, at);
    await this.#write(out.subarray(0, at));
    returnBuffer(out);
  }

  /**
   * Encrypt one message into a frame and write it, a slice at a time: the first
   * slice is on the wire (and being decrypted by the peer) while the rest is
   * still being encrypted.
   */
  async #sealAndWrite(job: OutgoingMessage): Promise<void> {
    const body = job.framed.subarray(MESSAGE_PREFIX);
    const total = body.length + (job.tail?.length ?? 0);
    const chunks = Math.ceil(total / CHUNK_PLAINTEXT);
    const out = takeBuffer(4 + chunks * (2 + TAGLEN) + total);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(0, total);
    let at = 4;
    let written = 0;
    let sealed = 0;
    for (const chunk of plaintextChunks(body, job.tail)) {
      const n = job.cipher.encryptInto(chunk, out, at + 2);
      view.setUint16(at, n);
      at += 2 + n;
      if (++sealed % SLICE_CHUNKS === 0 && sealed < chunks) {
        const slice = out.subarray(written, at);
        written = at;
        await this.#write(slice);
      }
    }
    await this.#write(out.subarray(written, at));
    returnBuffer(out);
  }

  async recvMessage(cipher: CipherState): Promise<Uint8Array> {
    const head = await this.#readExact(4);
    const outerLen = ((head[0] << 24) >>> 0) + ((head[1] << 16) | (head[2] << 8) | head[3]);
    if (outerLen > MESSAGE_MAX_SIZE) throw new FrameError("message too large");
    if (outerLen > READ_BUFFER && this.#buf.length < BULK_READ_BUFFER) {
      const grown = new Uint8Array(BULK_READ_BUFFER);
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = grown;
    }
    const msg = takeBuffer(outerLen);
    let ptr = 0;
    while (ptr < outerLen) {
      const lenBytes = await this.#readExact(2);
      const innerLen = (lenBytes[0] << 8) | lenBytes[1];
      const sealed = await this.#readExact(innerLen);
      if (ptr + innerLen - TAGLEN > outerLen) {
        // as before: a chunk that fails to decrypt is a decryption error first
        cipher.decrypt(sealed);
        throw new FrameError("chunk overruns message length");
      }
      // decrypted straight into the message (no per-chunk buffer, no copy)
      ptr += cipher.decryptInto(sealed, msg, ptr);
    }
    return msg;
  }

  /** Bytes already read from the socket but not consumed (forwarded first by splice). */
  #takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }

  async splice(other: Link): Promise<void> {
    if (!(other instanceof TcpLink)) throw new FrameError("cannot splice TCP with WS");
    const pump = async (from: TcpLink, to: TcpLink) => {
      try {
        const early = from.#takeBuffered();
        if (early.length > 0) await to.#write(early);
        const buf = new Uint8Array(READ_BUFFER);
        while (!from.#isClosed && !to.#isClosed) {
          const read = from.#conn.read(buf);
          from.#reading = read;
          const n = await read;
          if (n === null) break;
          await to.#write(buf.slice(0, n));
        }
      } catch {
        // either side failing ends the passthrough
      }
    };
    await Promise.race([pump(this, other), pump(other, this)]);
    await Promise.all([this.close(), other.close()]);
  }

  async close(): Promise<void> {
    if (!this.#isClosed) {
      this.#isClosed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
      // let an in-flight read settle so no op outlives the link
      await this.#reading.catch(() => {});
      await this.#writeTail.catch(() => {});
      // every queued message has been told it was not written
      await this.#draining;
      this.#resolveClosed();
    }
    return this.closed;
  }
}

function plaintextLength(job: OutgoingMessage): number {
  return job.framed.length - MESSAGE_PREFIX + (job.tail?.length ?? 0);
}

/** One chunk or less: such messages may share a write. */
function isSmall(job: OutgoingMessage | undefined): job is OutgoingMessage {
  return job !== undefined && plaintextLength(job) <= BATCH_MESSAGE_MAX;
}

/** Bytes of a message on the wire: u32 length, then u16 length + ciphertext per chunk. */
function sealedSize(job: OutgoingMessage): number {
  const total = plaintextLength(job);
  return 4 + Math.ceil(total / CHUNK_PLAINTEXT) * (2 + TAGLEN) + total;
}

/** Frame and encrypt a whole message into out at `at`; returns the end offset. */
function sealInto(job: OutgoingMessage, out: Uint8Array, at: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, plaintextLength(job));
  at += 4;
  for (const chunk of plaintextChunks(job.framed.subarray(MESSAGE_PREFIX), job.tail)) {
    const n = job.cipher.encryptInto(chunk, out, at + 2);
    view.setUint16(at, n);
    at += 2 + n;
  }
  return at;
}

export async function connectTcp(hostname: string, port: number): Promise<TcpLink> {
  const conn = await Deno.connect({ hostname, port, transport: "tcp" });
  return new TcpLink(conn);
}

/** Listen on hostname:port (0 = any free port); every accepted connection goes to onLink. */
export function listenTcp(
  hostname: string,
  port: number,
  onLink: (link: TcpLink) => void,
): Listener {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  let closed = false;
  const loop = (async () => {
    while (!closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        if (closed) break;
        continue;
      }
      if (closed) {
        conn.close();
        break;
      }
      onLink(new TcpLink(conn));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      if (closed) return;
      closed = true;
      listener.close();
      await loop;
    },
  };
}

/** First port at or above `start` that can be bound on hostname (Hyperdrive's default choice). */
export function findFreePort(hostname: string, start: number): number {
  for (let port = start; port < 65536; port++) {
    try {
      const l = Deno.listen({ hostname, port, transport: "tcp" });
      l.close();
      return port;
    } catch {
      // in use: try the next one
    }
  }
  throw new Error(`no free port at or above ${start}`);
}
