// WebSocket links, framed as Hyperdrive's net/ws/utils.rs:
// - raw frame (routing request, handshake): one Binary message;
// - protocol message: the plaintext is a u32 BE length followed by the
//   serialized KernelMessage; it is cut into 65519-byte chunks, each encrypted
//   and sent as its own Binary message.
// A Text message (or anything but Binary) ends the connection. Pings are answered
// with Pongs by Deno's WebSocket implementation on both the client and server side.

import {
  checkMessageSize,
  FrameError,
  type Link,
  LinkClosedError,
  type Listener,
  MESSAGE_MAX_SIZE,
  MESSAGE_PREFIX,
  plaintextChunks,
} from "./link.ts";
import { takeBuffer } from "./buffers.ts";
import { type CipherState, TAGLEN } from "./noise.ts";

/** How long close() waits for the WebSocket closing handshake. */
const CLOSE_WAIT_MS = 1000;

export class WsLink implements Link {
  readonly kind = "ws" as const;
  readonly remote: string;
  readonly closed: Promise<void>;
  #ws: WebSocket;
  #opened: Promise<void>;
  #queue: Uint8Array[] = [];
  #waiter: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  #error: Error | undefined;
  #isClosed = false;
  #socketClosed = false;
  #resolveClosed!: () => void;
  #relay: ((data: Uint8Array | string) => void) | undefined;
  #onEnd: (() => void) | undefined;

  constructor(ws: WebSocket, remote: string) {
    this.#ws = ws;
    this.remote = remote;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    ws.binaryType = "arraybuffer";
    this.#opened = ws.readyState === WebSocket.OPEN ? Promise.resolve() : new Promise(
      (resolve, reject) => {
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener("close", () => reject(new LinkClosedError("websocket not opened")), {
          once: true,
        });
      },
    );
    this.#opened.catch(() => {});
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#relay) {
        this.#relay(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data));
        return;
      }
      if (typeof ev.data === "string") {
        this.#fail(new FrameError("invalid websocket message received"));
        return;
      }
      this.#push(new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onclose = () => {
      this.#socketClosed = true;
      this.#fail(new LinkClosedError("websocket closed"));
    };
    ws.onerror = (ev) => {
      ev.preventDefault?.();
      this.#fail(new LinkClosedError("websocket error"));
    };
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves once the WebSocket is open (rejects if it closes first). */
  opened(): Promise<void> {
    return this.#opened;
  }

  #push(data: Uint8Array): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(data);
    } else {
      this.#queue.push(data);
    }
  }

  #fail(e: Error): void {
    if (!this.#error) this.#error = e;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.reject(e);
    }
    this.#onEnd?.();
    this.close();
  }

  #next(): Promise<Uint8Array> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error || this.#isClosed) {
      return Promise.reject(this.#error ?? new LinkClosedError());
    }
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #send(data: Uint8Array | string): void {
    if (this.#isClosed || this.#ws.readyState !== WebSocket.OPEN) throw new LinkClosedError();
    this.#ws.send(data);
  }

  async sendRaw(frame: Uint8Array): Promise<void> {
    await this.#opened;
    this.#send(frame);
  }

  recvRaw(): Promise<Uint8Array> {
    return this.#next();
  }

  sendMessage(
    cipher: CipherState,
    framed: Uint8Array,
    tail?: Uint8Array,
    onSealed?: (written: boolean) => void,
  ): void {
    checkMessageSize(framed, tail);
    new DataView(framed.buffer, framed.byteOffset, framed.byteLength).setUint32(
      0,
      framed.length - MESSAGE_PREFIX + (tail?.length ?? 0),
    );
    // the WebSocket buffers what it sends, so everything is encrypted right here
    const ciphertexts: Uint8Array[] = [];
    for (const chunk of plaintextChunks(framed, tail)) ciphertexts.push(cipher.encrypt(chunk));
    let written = true;
    try {
      for (const ct of ciphertexts) this.#send(ct);
    } catch {
      written = false;
      this.close();
    }
    onSealed?.(written);
  }

  async recvMessage(cipher: CipherState): Promise<Uint8Array> {
    const first = cipher.decrypt(await this.#next());
    if (first.length < 4) throw new FrameError("protocol message too small!");
    const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
    const msgLen = view.getUint32(0);
    if (msgLen > MESSAGE_MAX_SIZE) throw new FrameError("message too large");
    const msg = takeBuffer(msgLen);
    let have = Math.min(msgLen, first.length - 4);
    msg.set(first.subarray(4, 4 + have));
    while (have < msgLen) {
      const sealed = await this.#next();
      if (sealed.length >= TAGLEN && sealed.length - TAGLEN <= msgLen - have) {
        // decrypted straight into the message (no per-chunk buffer, no copy)
        have += cipher.decryptInto(sealed, msg, have);
        continue;
      }
      const part = cipher.decrypt(sealed);
      const take = Math.min(part.length, msgLen - have);
      msg.set(part.subarray(0, take), have);
      have += take;
    }
    return msg;
  }

  async splice(other: Link): Promise<void> {
    if (!(other instanceof WsLink)) throw new FrameError("cannot splice WS with TCP");
    const ended = new Promise<void>((resolve) => {
      this.#onEnd = resolve;
      other.#onEnd = resolve;
    });
    const forward = (from: WsLink, to: WsLink) => {
      from.#relay = (data) => {
        try {
          to.#send(data);
        } catch {
          from.#onEnd?.();
        }
      };
      // messages that arrived before the passthrough was set up go first
      for (const queued of from.#queue.splice(0)) from.#relay(queued);
    };
    await Promise.all([this.#opened, other.#opened]).catch(() => {});
    forward(this, other);
    forward(other, this);
    if (this.#error || other.#error) this.#onEnd?.();
    await ended;
    await Promise.all([this.close(), other.close()]);
  }

  async close(): Promise<void> {
    if (this.#isClosed) return this.closed;
    this.#isClosed = true;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.reject(this.#error ?? new LinkClosedError());
    }
    if (!this.#socketClosed) {
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_WAIT_MS);
        this.#ws.addEventListener("close", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      try {
        this.#ws.close();
      } catch {
        // never opened
      }
      await done;
    }
    this.#resolveClosed();
    return this.closed;
  }
}

export async function connectWs(hostname: string, port: number): Promise<WsLink> {
  const link = new WsLink(new WebSocket(`ws://${hostname}:${port}`), `${hostname}:${port}`);
  try {
    await link.opened();
  } catch (e) {
    await link.close();
    throw e;
  }
  return link;
}

/** Serve WebSocket upgrades on hostname:port (0 = any free port); each goes to onLink. */
export function serveWs(
  hostname: string,
  port: number,
  onLink: (link: WsLink) => void,
): Listener {
  const links = new Set<WsLink>();
  const server = Deno.serve({ hostname, port, onListen: () => {} }, (req, info) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("websocket only", { status: 400 });
    }
    // read the peer address before the upgrade takes the request over
    const addr = info.remoteAddr as Deno.NetAddr;
    const { socket, response } = Deno.upgradeWebSocket(req);
    const link = new WsLink(socket, `${addr.hostname}:${addr.port}`);
    links.add(link);
    link.closed.then(() => links.delete(link));
    onLink(link);
    return response;
  });
  return {
    port: server.addr.port,
    async close() {
      await Promise.all([...links].map((l) => l.close()));
      await server.shutdown();
    },
  };
}
