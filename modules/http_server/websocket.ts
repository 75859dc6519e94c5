// WebSocket channels: a client upgrades on a WebSocketBind'ed path and the app
// hears WebSocketOpen with a channel id; pushes go both ways as WebSocketPush
// (bytes in the blob); either side may close. A runtime extension's channel
// carries MessagePack'd HttpServerAction::WebSocketExtPushData instead, so the
// extension can answer a process's request or send it one.

import {
  type Address,
  type KernelMessage,
  type LazyLoadBlob,
  type ProcessId,
  processIdEquals,
  processIdToString,
  responseTo,
  textDecoder,
  textEncoder,
} from "../../wire/core.ts";
import {
  encodeWebSocketExtPushData,
  type HttpServerAction,
  type HttpServerError,
  type HttpServerRequest,
  type MessageType,
  readHttpServerAction,
  type WsMessageType,
} from "../../wire/http_server.ts";
import type { ServerCore } from "./config.ts";
import { refuseWebSocket } from "./login.ts";
import { RouteTooExpensive } from "./router.ts";
import {
  forwardedIp,
  json,
  notFromThisMachine,
  type RequestInfo,
  socketAddrString,
} from "./request.ts";

interface Channel {
  owner: Address;
  socket: WebSocket;
  extension: boolean;
  open: boolean;
}

/** A request from http-server to a local process, body as serde JSON. */
export function sendToProcess(
  core: ServerCore,
  process: ProcessId,
  body: HttpServerRequest,
  blob?: LazyLoadBlob,
): void {
  core.ctx.sendToLoop({
    id: core.ctx.newMessageId(),
    source: core.self,
    target: { node: core.ctx.our, process },
    message: {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: undefined,
        body: textEncoder.encode(JSON.stringify(body)),
        metadata: undefined,
        capabilities: [],
      },
    },
    lazyLoadBlob: blob,
  });
}

export class WebSockets {
  #core: ServerCore;
  #channels = new Map<number, Channel>();
  /** Channels whose owner has heard (or is hearing) WebSocketClose. */
  #notified = new WeakSet<Channel>();
  #closing = false;

  constructor(core: ServerCore) {
    this.#core = core;
  }

  /** A response for a WebSocket upgrade, or undefined if no WebSocket is bound there. */
  async upgrade(ri: RequestInfo): Promise<Response | undefined> {
    const core = this.#core;
    let route;
    try {
      route = core.bindings.wsPaths.recognize(ri.originalPath);
    } catch (e) {
      if (e instanceof RouteTooExpensive) return json("path too long to route", 414);
      throw e;
    }
    if (!route || !route.value.app) return undefined;
    const bound = route.value;
    const app = bound.app!;
    if (this.#channels.size >= core.limits.maxWebSockets) {
      core.ctx.print(0, `http-server: too many open websockets; rejecting`);
      return json("too many open websockets", 503);
    }
    if (bound.authenticated) {
      const refused = await refuseWebSocket(core, ri, bound, app);
      if (refused) return refused;
    }
    if (bound.extension && notFromThisMachine(ri, core.opts.exposeLocal)) {
      return json("extensions connect from this machine only", 403);
    }
    const appStr = processIdToString(app);
    const trimmed = ri.originalPath.replace(/^\/+/, "");
    const rest = trimmed.startsWith(appStr) ? trimmed.slice(appStr.length) : "";
    const path = `/${rest.replace(/^\/+/, "")}`;

    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(ri.req);
    } catch {
      return json("bad WebSocket upgrade", 400);
    }
    const { socket, response } = upgraded;
    socket.binaryType = "arraybuffer";
    let channelId: number;
    do {
      channelId = crypto.getRandomValues(new Uint32Array(1))[0];
    } while (this.#channels.has(channelId));
    const ch: Channel = {
      owner: { node: core.ctx.our, process: app },
      socket,
      extension: bound.extension,
      open: false,
    };
    // reserve the id now so the connection count holds during the handshake
    this.#channels.set(channelId, ch);
    const sourceAddr = socketAddrString(ri.remote);
    const fwd = forwardedIp(ri.headers);
    // a handshake that never completes must not hold a slot for good
    const handshake = setTimeout(() => {
      if (ch.open || this.#channels.get(channelId) !== ch) return;
      this.#channels.delete(channelId);
      try {
        socket.close();
      } catch {
        // not open
      }
    }, core.limits.wsHandshakeTimeoutMs);
    socket.onopen = () => {
      clearTimeout(handshake);
      if (this.#channels.get(channelId) !== ch) return;
      ch.open = true;
      sendToProcess(core, app, {
        WebSocketOpen: {
          path,
          channel_id: channelId,
          source_socket_addr: sourceAddr,
          forwarded_for: fwd,
        },
      });
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.#channels.get(channelId) !== ch) return;
      const text = typeof ev.data === "string";
      const bytes = text ? textEncoder.encode(ev.data) : new Uint8Array(ev.data as ArrayBuffer);
      this.#fromClient(ch, channelId, text ? "Text" : "Binary", bytes);
    };
    socket.onclose = () => {
      clearTimeout(handshake);
      const wasOpen = ch.open;
      if (this.#channels.get(channelId) === ch) this.#channels.delete(channelId);
      ch.open = false;
      if (wasOpen || this.#notified.has(ch)) this.#notifyClose(channelId, ch);
    };
    socket.onerror = () => {};
    return response;
  }

  /**
   * A process's WebSocketPush (or, with `ext`, WebSocketExtPushOutgoing: the blob
   * wrapped in WebSocketExtPushData with the request's id) to its channel.
   */
  push(
    km: KernelMessage,
    channelId: number,
    type: WsMessageType,
    ext?: MessageType,
  ): HttpServerError | null {
    const blob = km.lazyLoadBlob;
    if (!blob) return "NoBlob";
    let bytes = blob.bytes;
    if (ext !== undefined) {
      // Hyperdrive answers NoBlob here too: only Binary can carry MessagePack
      if (type !== "Binary") return "NoBlob";
      bytes = encodeWebSocketExtPushData(km.id, ext, bytes);
    }
    if (type === "Close") return this.closeFromProcess(km.source, channelId);
    if ((type === "Ping" || type === "Pong") && bytes.length > 125) return "WsPingPongTooLong";
    const ch = this.#owned(km.source, channelId);
    if (!ch || !ch.open || ch.socket.readyState !== WebSocket.OPEN) return "WsChannelNotFound";
    const limits = this.#core.limits;
    const buffered = ch.socket.bufferedAmount;
    if (buffered > limits.wsMaxBufferedBytes) {
      // the client stopped reading: drop it rather than buffer without bound
      this.#drop(channelId, ch, 1008, "client not reading");
      return "WsChannelNotFound";
    }
    if (
      buffered > limits.wsMaxTotalBufferedBytes / limits.maxWebSockets &&
      this.#bufferedTotal() > limits.wsMaxTotalBufferedBytes
    ) {
      // the node's WebSocket buffers are full and this client holds more than its share
      this.#core.ctx.print(1, `http-server: WebSocket buffers full; dropping channel ${channelId}`);
      this.#drop(channelId, ch, 1008, "client not reading");
      return "WsChannelNotFound";
    }
    // Deno answers pings itself and cannot send custom ping/pong frames
    if (type === "Ping" || type === "Pong") return null;
    try {
      if (type === "Text") ch.socket.send(textDecoder.decode(bytes));
      else ch.socket.send(bytes as Uint8Array<ArrayBuffer>);
    } catch {
      return "WsChannelNotFound";
    }
    return null;
  }

  /** A process closes its channel; the owner hears WebSocketClose as on a client close. */
  closeFromProcess(source: Address, channelId: number): HttpServerError | null {
    const ch = this.#channels.get(channelId);
    if (!ch) return null;
    if (!this.#owned(source, channelId)) return "WsChannelNotFound";
    this.#channels.delete(channelId);
    try {
      ch.socket.close();
    } catch {
      // already closing
    }
    ch.open = false;
    this.#notifyClose(channelId, ch);
    return null;
  }

  shutdown(): void {
    this.#closing = true;
    for (const [id, ch] of this.#channels) {
      this.#channels.delete(id);
      try {
        ch.socket.close(1001, "node shutting down");
      } catch {
        // already closing
      }
    }
  }

  /** Bytes queued to all clients and not yet sent. */
  #bufferedTotal(): number {
    let total = 0;
    for (const ch of this.#channels.values()) {
      if (ch.open) total += ch.socket.bufferedAmount;
    }
    return total;
  }

  /** The channel if `source` (node and process) owns it. */
  #owned(source: Address, channelId: number): Channel | undefined {
    const ch = this.#channels.get(channelId);
    if (
      !ch || ch.owner.node !== source.node || !processIdEquals(ch.owner.process, source.process)
    ) {
      return undefined;
    }
    return ch;
  }

  #drop(channelId: number, ch: Channel, code: number, reason: string): void {
    this.#channels.delete(channelId);
    ch.open = false;
    try {
      ch.socket.close(code, reason);
    } catch {
      // already closing
    }
    this.#notifyClose(channelId, ch);
  }

  #notifyClose(channelId: number, ch: Channel): void {
    if (this.#notified.has(ch) || this.#closing) return;
    this.#notified.add(ch);
    sendToProcess(this.#core, ch.owner.process, { WebSocketClose: channelId });
  }

  #fromClient(ch: Channel, channelId: number, type: WsMessageType, bytes: Uint8Array): void {
    const app = ch.owner.process;
    const push: HttpServerRequest = {
      WebSocketPush: { channel_id: channelId, message_type: type },
    };
    if (!ch.extension) {
      sendToProcess(this.#core, app, push, { mime: undefined, bytes });
      return;
    }
    // an extension speaks MessagePack'd HttpServerAction; anything else is a plain push
    let action: HttpServerAction;
    try {
      action = readHttpServerAction(bytes);
    } catch {
      sendToProcess(this.#core, app, push, { mime: undefined, bytes });
      return;
    }
    if (action.tag !== "WebSocketExtPushData") {
      this.#core.ctx.print(
        1,
        `http-server: unexpected ${action.tag} from extension on ${channelId}`,
      );
      return;
    }
    const { ctx, self } = this.#core;
    const body = textEncoder.encode(JSON.stringify(push));
    const blob = { mime: undefined, bytes: action.blob };
    const target = { node: ctx.our, process: app };
    if (action.hyperwareMessageType === "Request") {
      ctx.sendToLoop({
        id: action.id,
        source: self,
        target,
        message: {
          tag: "request",
          val: {
            inherit: false,
            expectsResponse: undefined,
            body,
            metadata: undefined,
            capabilities: [],
          },
        },
        lazyLoadBlob: blob,
      });
    } else {
      ctx.sendToLoop(responseTo(action.id, self, target, body, blob));
    }
  }
}
