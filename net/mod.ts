// net:distro:sys -- node-to-node networking, wire-compatible with Hyperdrive's
// hyperdrive/src/net: Noise XX over TCP or WebSocket, KernelMessages in
// MessagePack, direct nodes (TCP preferred over WS) and indirect nodes reached
// through routers that splice two connections together (passthroughs).
//
// The kernel hands this module (a) every KernelMessage whose target node is not
// ours, to be sent over the network, and (b) messages targeted at
// net:distro:sys itself (NetActions from local processes; hello messages and
// ConnectionRequests from remote nodes). Messages received from peers go back
// to the kernel with ctx.sendToLoop; unreachable peers produce SendError Offline
// through ctx.sendErrorToLoop.

import {
  type Address,
  addressToString,
  type KernelMessage,
  type LazyLoadBlob,
  makeResponse,
  NET_PROCESS_ID,
  processIdEquals,
  type Request,
  textEncoder,
} from "../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../kernel/module.ts";
import { type RequestHandler, serve } from "../modules/shared/runtime.ts";
import {
  type HnsUpdate,
  type Identity,
  identityFromHnsUpdate,
  identityRouters,
  type NetAction,
  netKeyFromHex,
  netKeyToHex,
  type NetResponse,
} from "../wire/net.ts";
import { decodeNetAction, decodeNetResponse, encodeNetResponse } from "./codec.ts";
import { NetEnv } from "./env.ts";
import {
  networkingPublicKey,
  NOISE_E_LEN,
  respondHandshake,
  signWithNetworkingKey,
  validateRoutingRequest,
  verifyNetworkingSignature,
} from "./handshake.ts";
import { IDLE_TIMEOUT_MS, type Link, type Listener, TIMEOUT_MS, withTimeout } from "./link.ts";
import { DEFAULT_MAX_PEERS, listen, type Listeners, Peers } from "./peers.ts";
import { ROUTER_RETRY_MS, Routing } from "./routing.ts";

export type { HnsUpdate, Identity, NetAction, NetResponse } from "../wire/net.ts";
export { DEFAULT_MAX_PEERS, DEFAULT_TCP_PORT, DEFAULT_WS_PORT } from "./peers.ts";
export { ROUTER_RETRY_MS } from "./routing.ts";

export interface NetModuleOptions {
  /** This node's name. */
  our: string;
  /** 32-byte Ed25519 seed: the networking key whose public half is in the PKI. */
  networkingKey: Uint8Array;
  /** The IP published in our identity (default "127.0.0.1"). */
  ip?: string;
  /** Interface the listeners bind (default: `ip`). */
  listenHostname?: string;
  /** TCP port; 0 = any free port; false = no TCP. Default: first free at or above 10000. */
  tcpPort?: number | false;
  /** WebSocket port; 0 = any free port; false = no WS. Default: first free at or above 9000. */
  wsPort?: number | false;
  /** Non-empty: this node is indirect, reached through these routers, and listens on nothing. */
  routers?: string[];
  /** Passthroughs this node will hold as a router (0 = not a router). */
  maxPassthroughs?: number;
  /** Open peer connections kept before the least recently used is dropped. */
  maxPeers?: number;
  /** Initial PKI records. */
  pki?: HnsUpdate[];
  /** Connect/handshake/routing timeout (Hyperdrive: 5 s). */
  timeoutMs?: number;
  /** Indirect nodes retry unconnected routers this often. */
  routerRetryMs?: number;
  /** Idle connections close after this long. */
  idleTimeoutMs?: number;
  /**
   * Offer hyperdeno's wire extensions to peers (default true; Hyperdrive peers
   * ignore the offer). false: speak exactly Hyperdrive's bytes with everyone.
   */
  wireExtensions?: boolean;
}

export interface NetModule extends RuntimeModule {
  /** Our HNS record, as the hns-indexer would publish it. */
  readonly identity: HnsUpdate;
  /** Our Identity (what GetPeer(our) answers). */
  readonly ourIdentity: Identity;
  /** Ed25519 networking public key. */
  readonly publicKey: Uint8Array;
  /** Add or replace a PKI record (what NetAction::HnsUpdate does). */
  ingest(update: HnsUpdate): void;
  /** Names of peers with an open or opening connection. */
  peerNames(): string[];
  /** Open peer connections (two may briefly serve one peer while simultaneous dials settle). */
  connectionCount(): number;
  /** GetDiagnostics' text. */
  diagnostics(): string;
  shutdown(): Promise<void>;
}

/**
 * A request to net:distro:sys as net acts on it: a NetAction, or what another node
 * sent that is none (a "hello": printed and acked, as Hyperdrive).
 */
type NetRequest = NetAction | { tag: "Hello"; body: Uint8Array };

class NetModuleImpl implements NetModule, RequestHandler<NetRequest, NetResponse> {
  readonly processId = NET_PROCESS_ID;
  readonly public = false;
  readonly name = "net";
  /** Other nodes send net ConnectionRequests and hellos. */
  readonly remote = true;
  readonly self: Address;
  readonly identity: HnsUpdate;
  readonly ourIdentity: Identity;
  readonly publicKey: Uint8Array;

  readonly #our: string;
  readonly #env: NetEnv;
  readonly #peers: Peers;
  readonly #routing: Routing;
  readonly #listeners: Listeners | undefined;

  constructor(opts: NetModuleOptions) {
    if (opts.networkingKey.length !== 32) throw new Error("networkingKey must be a 32-byte seed");
    const local = {
      name: opts.our,
      networkingKey: opts.networkingKey.slice(),
      wireExtensions: opts.wireExtensions ?? true,
    };
    this.#our = opts.our;
    this.publicKey = networkingPublicKey(local.networkingKey);
    const ip = opts.ip ?? "127.0.0.1";
    const routers = opts.routers ?? [];
    // direct: listen now so our identity (ports) is known before start
    this.#listeners = routers.length === 0
      ? listen(opts.listenHostname ?? ip, opts.tcpPort, opts.wsPort, (l) => this.#onInbound(l))
      : undefined;
    this.identity = {
      name: opts.our,
      public_key: netKeyToHex(this.publicKey),
      ips: routers.length === 0 ? [ip] : [],
      ports: this.#listeners?.ports ?? {},
      routers: [...routers],
    };
    this.ourIdentity = identityFromHnsUpdate(this.identity);
    this.#env = new NetEnv(local, this.ourIdentity, {
      timeoutMs: opts.timeoutMs ?? TIMEOUT_MS,
      routerRetryMs: opts.routerRetryMs ?? ROUTER_RETRY_MS,
      idleMs: opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      maxPeers: opts.maxPeers ?? DEFAULT_MAX_PEERS,
      maxPassthroughs: opts.maxPassthroughs ?? 0,
    });
    this.self = this.#env.netAddress;
    this.#peers = new Peers(this.#env);
    this.#routing = new Routing(this.#env, this.#peers);
    for (const u of opts.pki ?? []) this.ingest(u);
  }

  // ---------------------------------------------------------------------------
  // lifecycle

  start(ctx: RuntimeModuleContext): void {
    this.#env.start(ctx);
    if (identityRouters(this.ourIdentity)) {
      this.#env.print(2, "net: going online as an indirect node");
      this.#routing.maintainRouters();
    } else {
      this.#env.print(2, "net: going online as a direct node");
    }
  }

  async shutdown(): Promise<void> {
    const env = this.#env;
    if (env.stopped) return;
    env.stop();
    const listeners: (Listener | undefined)[] = [this.#listeners?.tcp, this.#listeners?.ws];
    await Promise.allSettled(listeners.map((l) => l?.close()));
    await Promise.allSettled([...this.#peers.closeAll(), ...this.#routing.closeAll()]);
    await env.settle();
  }

  ingest(update: HnsUpdate): void {
    this.#env.ingest(update);
  }

  peerNames(): string[] {
    return this.#peers.names();
  }

  connectionCount(): number {
    return this.#peers.connectionCount;
  }

  // ---------------------------------------------------------------------------
  // inbound links: a peer's Noise handshake, or a RoutingRequest for us as a router

  #onInbound(link: Link): void {
    const env = this.#env;
    env.track((async () => {
      await env.started;
      if (env.stopped) return link.close();
      try {
        await withTimeout(link, this.#acceptLink(link), env.settings.timeoutMs);
      } catch (e) {
        env.print(
          2,
          `net: error receiving ${link.kind} connection from ${link.remote}: ${
            (e as Error).message
          }`,
        );
        await link.close();
      }
    })());
  }

  async #acceptLink(link: Link): Promise<void> {
    const env = this.#env;
    const first = await link.recvRaw();
    if (first.length !== NOISE_E_LEN) {
      // not a Noise `e`: a RoutingRequest asking us to act as a router
      const { from, target } = validateRoutingRequest(env.local.name, first, env.lookup);
      return await this.#routing.createPassthrough(from, target, link);
    }
    const s = await respondHandshake(link, env.local, first, env.lookup);
    if (env.stopped) return void (await link.close());
    this.#peers.accept(s);
  }

  // ---------------------------------------------------------------------------
  // messages

  /**
   * The kernel hands net every message for another node (the send path: straight to
   * the peer table, nothing more per message) and every message for net itself.
   */
  handleMessage(km: KernelMessage): void | Promise<void> {
    if (this.#env.stopped) return;
    if (km.target.node !== this.#our) return this.#peers.send(km);
    const ctx = this.#env.ctx;
    if (!ctx || !processIdEquals(km.target.process, NET_PROCESS_ID)) return;
    return serve(ctx, this, km);
  }

  parse(km: KernelMessage, req: Request): NetRequest {
    if (km.source.node === this.#our) {
      try {
        return decodeNetAction(req.body);
      } catch (e) {
        throw new Error(`ignoring request that is not a NetAction: ${(e as Error).message}`);
      }
    }
    // from another node only these mean something; anything else is a hello
    let action: NetAction;
    try {
      action = decodeNetAction(req.body);
    } catch {
      return { tag: "Hello", body: req.body };
    }
    switch (action.tag) {
      case "ConnectionRequest":
      case "HnsUpdate":
      case "HnsBatchUpdate":
        return action;
    }
    return { tag: "Hello", body: req.body };
  }

  /**
   * Only our own node teaches the PKI. As Hyperdrive, any local sender may: the kernel
   * has already required its messaging capability to net (all hns-indexer holds).
   */
  check(km: KernelMessage, request: NetRequest): void {
    if (
      km.source.node !== this.#our &&
      (request.tag === "HnsUpdate" || request.tag === "HnsBatchUpdate")
    ) {
      throw new Error("not allowed to update PKI from remote");
    }
  }

  /** Every answer goes out through #respond, as Hyperdrive answers: whether expected or not. */
  act(km: KernelMessage, request: NetRequest): undefined {
    switch (request.tag) {
      case "ConnectionRequest":
        // only means something from a router of ours
        if (km.source.node !== this.#our) this.#routing.onConnectionRequest(km, request.from);
        return;
      case "HnsUpdate":
        this.ingest(request.update);
        return;
      case "HnsBatchUpdate":
        for (const u of request.updates) this.ingest(u);
        return;
      case "GetPeers": {
        const peers = [...this.#peers.entries()].map(([, p]) => p.identity);
        return this.#respond(km, { Peers: peers });
      }
      case "GetPeer": {
        const id = request.name === this.#our ? this.ourIdentity : this.#env.pki.get(request.name);
        return this.#respond(km, { Peer: id ?? null });
      }
      case "GetDiagnostics":
        return this.#respond(km, { Diagnostics: this.diagnostics() });
      case "Sign": {
        const message = signedMessage(km.source, km.lazyLoadBlob);
        const signature = signWithNetworkingKey(this.#env.local.networkingKey, message);
        return this.#respond(km, "Signed", { mime: undefined, bytes: signature });
      }
      case "Verify": {
        const message = signedMessage(request.from, km.lazyLoadBlob);
        // as Hyperdrive: a signer missing from the PKI is checked against our own key
        const signer = this.#env.pki.get(request.from.node);
        const key = signer ? netKeyFromHex(signer.networking_key) : this.publicKey;
        const verified = verifyNetworkingSignature(key, message, request.signature);
        return this.#respond(km, { Verified: verified });
      }
      case "Hello":
        return this.#hello(km, request.body);
    }
  }

  /** NetResponse has no error variant: a refused request is printed, never answered. */
  error(e: unknown): undefined {
    this.#env.print(2, `net: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }

  encode(response: NetResponse): Uint8Array {
    return encodeNetResponse(response);
  }

  /** Responses reach net as a router, answering the ConnectionRequests it sent. */
  onResponse(km: KernelMessage): void {
    if (km.message.tag !== "response") return;
    let response: NetResponse;
    try {
      response = decodeNetResponse(km.message.val[0].body);
    } catch {
      return;
    }
    if (typeof response === "object" && "Rejected" in response) {
      this.#routing.onRejected(response.Rejected, km.source.node);
    }
  }

  /** To rsvp, else the source; the blob (Sign's signature) has no mime, as Hyperdrive's. */
  #respond(km: KernelMessage, response: NetResponse, blob?: LazyLoadBlob): undefined {
    this.#env.ctx?.sendToLoop(makeResponse(km, this.self, encodeNetResponse(response), blob));
    return undefined;
  }

  /** Another node's body that is no NetAction for us: print it, answer "ack". */
  #hello(km: KernelMessage, body: Uint8Array): undefined {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      text = "!!message parse error!!";
    }
    this.#env.print(0, `\x1b[3;32m${km.source.node}: ${text}\x1b[0m`);
    this.#env.ctx?.sendToLoop(makeResponse(km, this.self, textEncoder.encode("ack")));
    return undefined;
  }

  /** GetDiagnostics' text, line for line as Hyperdrive's net prints it. */
  diagnostics(): string {
    const env = this.#env;
    let out = `indexing from contract address ${HYPERMAP_ADDRESS}\r\n`;
    out += `our Identity: ${prettyIdentity(this.ourIdentity)}\r\n`;
    out += `we have connections with ${this.#peers.size} peers (${env.settings.maxPeers} max):\r\n`;
    const now = Date.now();
    for (const [name, p] of this.#peers.entries()) {
      const routing = p.routingFor ? " (routing)" : "";
      const ago = Math.max(0, Math.floor((now - p.lastMessage) / 1000));
      out += `    ${name},${routing} last message ${ago}s ago\r\n`;
    }
    const lines: string[] = [];
    if (env.settings.maxPassthroughs > 0) {
      lines.push(`we allow ${env.settings.maxPassthroughs} max passthroughs`);
    }
    this.#routing.diagnostics(lines);
    lines.push(`we have ${env.pki.size} entries in the PKI`);
    return out + lines.map((l) => `${l}\r\n`).join("");
  }
}

/** Hyperdrive's HYPERMAP_ADDRESS (hyperdrive/src/main.rs), named by GetDiagnostics. */
const HYPERMAP_ADDRESS = "0x000000000044C6B8Cb4d8f0F889a3E47664EAeda";

/** Rust's `{:?}` of a String. */
function debugStr(s: string): string {
  return JSON.stringify(s).replace(
    /\\u00([0-9a-f]{2})/g,
    (_m, h) => `\\u{${parseInt(h, 16).toString(16)}}`,
  );
}

/** Rust's pretty Debug (`{:#?}`) of lib's Identity, as GetDiagnostics shows ours. */
function prettyIdentity(id: Identity): string {
  const ind = (n: number) => " ".repeat(4 * n);
  const ports = (p: Record<string, number>, n: number) => {
    const keys = Object.keys(p).sort(); // a BTreeMap
    if (keys.length === 0) return "{}";
    return `{\n${keys.map((k) => `${ind(n + 1)}${debugStr(k)}: ${p[k]},\n`).join("")}${ind(n)}}`;
  };
  const list = (l: string[], n: number) =>
    l.length === 0
      ? "[]"
      : `[\n${l.map((x) => `${ind(n + 1)}${debugStr(x)},\n`).join("")}${ind(n)}]`;
  const r = id.routing;
  let routing: string;
  if ("Routers" in r) {
    routing = `Routers(\n${ind(2)}${list(r.Routers, 2)},\n${ind(1)})`;
  } else if ("Direct" in r) {
    routing = `Direct {\n${ind(2)}ip: ${debugStr(r.Direct.ip)},\n${ind(2)}ports: ${
      ports(r.Direct.ports, 2)
    },\n${ind(1)}}`;
  } else {
    routing = `Both {\n${ind(2)}ip: ${debugStr(r.Both.ip)},\n${ind(2)}ports: ${
      ports(r.Both.ports, 2)
    },\n${ind(2)}routers: ${list(r.Both.routers, 2)},\n${ind(1)}}`;
  }
  return `Identity {\n${ind(1)}name: ${debugStr(id.name)},\n${ind(1)}networking_key: ${
    debugStr(id.networking_key)
  },\n${ind(1)}routing: ${routing},\n}`;
}

/** What Sign signs and Verify checks: the address string, then the blob bytes. */
function signedMessage(address: Address, blob: LazyLoadBlob | undefined): Uint8Array {
  const head = textEncoder.encode(addressToString(address));
  const tail = blob?.bytes ?? new Uint8Array(0);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

/** Build net:distro:sys. Listeners (direct nodes) are bound here, so `identity` is final. */
export function createNetModule(opts: NetModuleOptions): NetModule {
  return new NetModuleImpl(opts);
}
