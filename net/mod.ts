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
  textEncoder,
} from "../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../kernel/module.ts";
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
  diagnostics(): string;
  shutdown(): Promise<void>;
}

class NetModuleImpl implements NetModule {
  readonly processId = NET_PROCESS_ID;
  readonly public = false;
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

  handleMessage(km: KernelMessage): void {
    if (this.#env.stopped) return;
    if (km.target.node !== this.#our) return this.#peers.send(km);
    if (!processIdEquals(km.target.process, NET_PROCESS_ID)) return;
    if (km.message.tag === "response") {
      return this.#handleResponse(km.source.node, km.message.val[0].body);
    }
    const body = km.message.val.body;
    if (km.source.node === this.#our) return this.#handleLocalRequest(km, body);
    this.#handleRemoteRequest(km, body);
  }

  #respond(km: KernelMessage, response: NetResponse, blob?: LazyLoadBlob): void {
    this.#env.ctx?.sendToLoop(makeResponse(km, this.self, encodeNetResponse(response), blob));
  }

  #handleLocalRequest(km: KernelMessage, body: Uint8Array): void {
    let action: NetAction;
    try {
      action = decodeNetAction(body);
    } catch (e) {
      this.#env.print(2, `net: ignoring request that is not a NetAction: ${(e as Error).message}`);
      return;
    }
    switch (action.tag) {
      // As Hyperdrive: any local sender may teach the PKI (the kernel has already
      // required its messaging capability to net; hns-indexer holds no more than that).
      case "HnsUpdate":
        return this.ingest(action.update);
      case "HnsBatchUpdate":
        for (const u of action.updates) this.ingest(u);
        return;
      case "GetPeers": {
        const peers = [...this.#peers.entries()].map(([, p]) => p.identity);
        return this.#respond(km, { Peers: peers });
      }
      case "GetDiagnostics":
        return this.#respond(km, { Diagnostics: this.diagnostics() });
      case "Sign": {
        const message = signedMessage(km.source, km.lazyLoadBlob);
        const signature = signWithNetworkingKey(this.#env.local.networkingKey, message);
        return this.#respond(km, "Signed", { mime: undefined, bytes: signature });
      }
      case "GetPeer": {
        const id = action.name === this.#our ? this.ourIdentity : this.#env.pki.get(action.name);
        return this.#respond(km, { Peer: id ?? null });
      }
      case "Verify": {
        const message = signedMessage(action.from, km.lazyLoadBlob);
        // as Hyperdrive: a signer missing from the PKI is checked against our own key
        const signer = this.#env.pki.get(action.from.node);
        const key = signer ? netKeyFromHex(signer.networking_key) : this.publicKey;
        const verified = verifyNetworkingSignature(key, message, action.signature);
        return this.#respond(km, { Verified: verified });
      }
      case "ConnectionRequest":
        // only means something from a router
        return;
    }
  }

  #handleRemoteRequest(km: KernelMessage, body: Uint8Array): void {
    let action: NetAction | undefined;
    try {
      action = decodeNetAction(body);
    } catch {
      action = undefined;
    }
    if (action?.tag === "HnsUpdate" || action?.tag === "HnsBatchUpdate") {
      this.#env.print(2, "net: not allowed to update PKI from remote");
      return;
    }
    if (action?.tag === "ConnectionRequest") {
      return this.#routing.onConnectionRequest(km, action.from);
    }
    // anything else from a remote node is a "hello": print it and ack
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      text = "!!message parse error!!";
    }
    this.#env.print(0, `\x1b[3;32m${km.source.node}: ${text}\x1b[0m`);
    this.#env.ctx?.sendToLoop(makeResponse(km, this.self, textEncoder.encode("ack")));
  }

  #handleResponse(sourceNode: string, body: Uint8Array): void {
    let response: NetResponse;
    try {
      response = decodeNetResponse(body);
    } catch {
      return;
    }
    if (typeof response === "object" && "Rejected" in response) {
      this.#routing.onRejected(response.Rejected, sourceNode);
    }
  }

  diagnostics(): string {
    const env = this.#env;
    const lines: string[] = [];
    lines.push(`our Identity: ${JSON.stringify(this.ourIdentity)}`);
    lines.push(
      `we have connections with ${this.#peers.size} peers (${env.settings.maxPeers} max):`,
    );
    const now = Date.now();
    for (const [name, p] of this.#peers.entries()) {
      const state = p.connecting ? " (connecting)" : "";
      const routing = p.routingFor ? " (routing)" : "";
      const ago = Math.max(0, Math.floor((now - p.lastMessage) / 1000));
      lines.push(`    ${name},${routing}${state} last message ${ago}s ago`);
    }
    if (env.settings.maxPassthroughs > 0) {
      lines.push(`we allow ${env.settings.maxPassthroughs} max passthroughs`);
    }
    this.#routing.diagnostics(lines);
    lines.push(`we have ${this.#peers.connectionCount} open peer connections`);
    lines.push(`we have ${env.pki.size} entries in the PKI`);
    return lines.join("\r\n") + "\r\n";
  }
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
