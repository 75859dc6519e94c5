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
import { decodeNetAction, decodeNetResponse, encodeNetAction, encodeNetResponse } from "./codec.ts";
import { PeerConnection } from "./connection.ts";
import {
  initiateHandshake,
  type LocalNode,
  networkingPublicKey,
  NOISE_E_LEN,
  respondHandshake,
  respondViaRouter,
  type Session,
  signWithNetworkingKey,
  validateRoutingRequest,
  verifyNetworkingSignature,
} from "./handshake.ts";
import {
  FrameError,
  IDLE_TIMEOUT_MS,
  type Link,
  type Listener,
  TIMEOUT_MS,
  withTimeout,
} from "./link.ts";
import { connectTcp, findFreePort, listenTcp } from "./tcp.ts";
import {
  type HnsUpdate,
  type Identity,
  identityFromHnsUpdate,
  identityIp,
  identityPort,
  identityRouters,
  isDirect,
  type NetAction,
  netKeyFromHex,
  netKeyToHex,
  type NetResponse,
  TCP_PROTOCOL,
  WS_PROTOCOL,
} from "../wire/net.ts";
import { connectWs, serveWs } from "./ws.ts";

export type { HnsUpdate, Identity, NetAction, NetResponse } from "../wire/net.ts";

export const DEFAULT_MAX_PEERS = 32;
export const DEFAULT_TCP_PORT = 10000;
export const DEFAULT_WS_PORT = 9000;
/** How often an indirect node retries routers it is not connected to. */
export const ROUTER_RETRY_MS = 4000;

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

interface Peer {
  identity: Identity;
  /** We route for them: they asked us (proxy_request) when they connected. */
  routingFor: boolean;
  conn?: PeerConnection;
  /** Messages waiting for the connection to open. */
  queue: KernelMessage[];
  connecting: boolean;
  /** ms timestamp and a tie-breaking sequence of the last message sent or received */
  lastMessage: number;
  lastSeq: number;
}

interface PendingPassthrough {
  link: Link;
  since: number;
  timer: ReturnType<typeof setTimeout>;
}

interface ActivePassthrough {
  since: number;
  links: [Link, Link];
}

const passthroughKey = (from: string, target: string) => `${from}\u0000${target}`;

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Resolve `p` within `ms`, or fail (closing whatever `p` yields late). */
async function connectWithin<T extends Link>(p: Promise<T>, ms: number): Promise<T> {
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

class NetModuleImpl implements NetModule {
  readonly processId = NET_PROCESS_ID;
  readonly public = false;
  readonly identity: HnsUpdate;
  readonly ourIdentity: Identity;
  readonly publicKey: Uint8Array;

  readonly #local: LocalNode;
  readonly #ip: string;
  readonly #maxPassthroughs: number;
  readonly #maxPeers: number;
  readonly #timeoutMs: number;
  readonly #routerRetryMs: number;
  readonly #idleMs: number;
  readonly #pki = new Map<string, Identity>();
  readonly #peers = new Map<string, Peer>();
  readonly #pending = new Map<string, PendingPassthrough>();
  readonly #active = new Map<string, ActivePassthrough>();
  readonly #tasks = new Set<Promise<unknown>>();
  /** Every open peer connection, including ones not (yet) a peer's primary. */
  readonly #conns = new Set<PeerConnection>();
  /** Connections we opened (as Noise initiator), for the simultaneous-dial tie-break. */
  readonly #dialed = new WeakSet<PeerConnection>();
  #tcpServer: Listener | undefined;
  #wsServer: Listener | undefined;
  #ctx: RuntimeModuleContext | undefined;
  #resolveStarted!: () => void;
  readonly #started = new Promise<void>((r) => (this.#resolveStarted = r));
  #routerTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #seq = 0;

  constructor(opts: NetModuleOptions) {
    if (opts.networkingKey.length !== 32) throw new Error("networkingKey must be a 32-byte seed");
    this.#local = {
      name: opts.our,
      networkingKey: opts.networkingKey.slice(),
      wireExtensions: opts.wireExtensions ?? true,
    };
    this.publicKey = networkingPublicKey(this.#local.networkingKey);
    this.#ip = opts.ip ?? "127.0.0.1";
    this.#maxPassthroughs = opts.maxPassthroughs ?? 0;
    this.#maxPeers = opts.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
    this.#routerRetryMs = opts.routerRetryMs ?? ROUTER_RETRY_MS;
    this.#idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const routers = opts.routers ?? [];
    const hostname = opts.listenHostname ?? this.#ip;
    const ports: Record<string, number> = {};
    if (routers.length === 0) {
      // direct: listen now so our identity (ports) is known before start
      try {
        if (opts.tcpPort !== false) {
          const port = opts.tcpPort ?? findFreePort(hostname, DEFAULT_TCP_PORT);
          this.#tcpServer = listenTcp(hostname, port, (l) => this.#onInbound(l));
          ports[TCP_PROTOCOL] = this.#tcpServer.port;
        }
        if (opts.wsPort !== false) {
          const port = opts.wsPort ?? findFreePort(hostname, DEFAULT_WS_PORT);
          this.#wsServer = serveWs(hostname, port, (l) => this.#onInbound(l));
          ports[WS_PROTOCOL] = this.#wsServer.port;
        }
      } catch (e) {
        this.#tcpServer?.close();
        this.#wsServer?.close();
        throw e;
      }
      if (!this.#tcpServer && !this.#wsServer) {
        throw new Error("net: need at least one networking protocol (tcpPort or wsPort)");
      }
    }
    this.identity = {
      name: opts.our,
      public_key: netKeyToHex(this.publicKey),
      ips: routers.length === 0 ? [this.#ip] : [],
      ports,
      routers: [...routers],
    };
    this.ourIdentity = identityFromHnsUpdate(this.identity);
    for (const u of opts.pki ?? []) this.ingest(u);
  }

  // ---------------------------------------------------------------------------
  // lifecycle

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.#resolveStarted();
    const routers = identityRouters(this.ourIdentity);
    if (routers) {
      this.#print(2, "net: going online as an indirect node");
      this.#maintainRouters();
    } else {
      this.#print(2, "net: going online as a direct node");
    }
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#resolveStarted();
    clearTimeout(this.#routerTimer);
    await Promise.allSettled([this.#tcpServer?.close(), this.#wsServer?.close()]);
    const closing: Promise<unknown>[] = [...this.#conns].map((c) => c.close());
    this.#peers.clear();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      closing.push(p.link.close());
    }
    this.#pending.clear();
    for (const a of this.#active.values()) closing.push(...a.links.map((l) => l.close()));
    await Promise.allSettled(closing);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(p: Promise<unknown>): void {
    const t = p.catch((e) => this.#print(2, `net: ${(e as Error).message}`)).finally(() =>
      this.#tasks.delete(t)
    );
    this.#tasks.add(t);
  }

  #print(verbosity: number, text: string): void {
    this.#ctx?.print(verbosity, text);
  }

  get #netAddress(): Address {
    return { node: this.#local.name, process: NET_PROCESS_ID };
  }

  // ---------------------------------------------------------------------------
  // PKI

  ingest(update: HnsUpdate): void {
    this.#pki.set(update.name, identityFromHnsUpdate(update));
  }

  #lookup = (name: string): Identity | undefined => this.#pki.get(name);

  peerNames(): string[] {
    return [...this.#peers.keys()];
  }

  // ---------------------------------------------------------------------------
  // peers

  #touch(peer: Peer): void {
    peer.lastMessage = Date.now();
    peer.lastSeq = ++this.#seq;
  }

  #newPeer(identity: Identity, routingFor: boolean): Peer {
    const peer: Peer = {
      identity,
      routingFor,
      queue: [],
      connecting: false,
      lastMessage: 0,
      lastSeq: 0,
    };
    this.#touch(peer);
    return peer;
  }

  /** Insert, then drop the least recently active peer if over max-peers. */
  #insertPeer(name: string, peer: Peer): void {
    const old = this.#peers.get(name);
    if (old && old !== peer) this.#dropPeer(name, old);
    this.#peers.set(name, peer);
    if (this.#peers.size > this.#maxPeers) {
      let oldest: [string, Peer] | undefined;
      for (const entry of this.#peers) {
        if (!oldest || entry[1].lastSeq < oldest[1].lastSeq) oldest = entry;
      }
      this.#print(2, `net: over ${this.#maxPeers} peers, dropping ${oldest![0]}`);
      this.#dropPeer(oldest![0], oldest![1]);
    }
  }

  #dropPeer(name: string, peer: Peer): void {
    if (this.#peers.get(name) === peer) this.#peers.delete(name);
    for (const conn of this.#conns) {
      if (conn.peerName === name) this.#track(conn.close());
    }
  }

  /** An open connection with `name` that is not its peer's primary one. */
  #sideConnection(name: string, peer: Peer): PeerConnection | undefined {
    for (const conn of this.#conns) {
      if (conn.peerName === name && conn !== peer.conn && !conn.isClosed) return conn;
    }
    return undefined;
  }

  #connectionFor(peer: Peer, session: Session): PeerConnection {
    const conn = new PeerConnection(session, peer.identity.name, {
      onMessage: (km) => {
        const current = this.#peers.get(km.source.node);
        if (current) this.#touch(current);
        this.#ctx?.sendToLoop(km);
      },
      onClose: (conn) => {
        this.#conns.delete(conn);
        const current = this.#peers.get(conn.peerName);
        if (current?.conn !== conn) return;
        const side = this.#sideConnection(conn.peerName, current);
        if (side) this.#promote(current, side);
        else this.#peers.delete(conn.peerName);
      },
      print: (v, t) => this.#print(v, t),
    }, this.#idleMs);
    this.#conns.add(conn);
    return conn;
  }

  /** Put an open session into `peer` and flush what was queued for it. */
  #attach(peer: Peer, session: Session): PeerConnection {
    const conn = this.#connectionFor(peer, session);
    this.#promote(peer, conn);
    return conn;
  }

  /** Make `conn` the peer's primary connection (closing any previous one) and flush the queue. */
  #promote(peer: Peer, conn: PeerConnection): void {
    const old = peer.conn;
    peer.conn = conn;
    peer.connecting = false;
    if (old && old !== conn) this.#track(old.close());
    const queued = peer.queue.splice(0);
    for (const km of queued) this.#sendOn(peer, km);
  }

  #sendOn(peer: Peer, km: KernelMessage): void {
    try {
      peer.conn!.send(km);
      this.#touch(peer);
    } catch (e) {
      if (e instanceof FrameError) {
        // dropped: the sender gets a Timeout if it expected a response
        this.#print(0, `net: tried to send too-large message: ${e.message}`);
      } else {
        throw e;
      }
    }
  }

  #offline(km: KernelMessage): void {
    this.#ctx?.sendErrorToLoop({
      id: km.id,
      source: km.source,
      error: {
        kind: "offline",
        target: km.target,
        message: km.message,
        lazyLoadBlob: km.lazyLoadBlob,
      },
    });
  }

  /** Queue to a connected or connecting peer, or open a new connection. */
  #sendToPeer(km: KernelMessage): void {
    const name = km.target.node;
    const existing = this.#peers.get(name);
    if (existing) {
      if (existing.conn && !existing.conn.isClosed) return this.#sendOn(existing, km);
      if (existing.connecting) {
        existing.queue.push(km);
        this.#touch(existing);
        return;
      }
      this.#dropPeer(name, existing);
    }
    const identity = this.#pki.get(name);
    if (!identity) return this.#offline(km);
    const peer = this.#newPeer(identity, false);
    const open = [...this.#conns].find((c) => c.peerName === name && !c.isClosed);
    if (open) {
      // a connection they opened outlived our record of them
      this.#insertPeer(name, peer);
      this.#promote(peer, open);
      return this.#sendOn(peer, km);
    }
    peer.queue.push(km);
    peer.connecting = true;
    this.#insertPeer(name, peer);
    this.#track(this.#connectToPeer(peer, false));
  }

  async #connectToPeer(peer: Peer, proxyRequest: boolean): Promise<void> {
    const id = peer.identity;
    let session: Session | undefined;
    try {
      if (isDirect(id)) {
        this.#print(2, `net: attempting to connect to ${id.name} directly`);
        session = await this.#connectDirect(id, proxyRequest);
      } else {
        session = await this.#connectViaRouters(id);
      }
    } catch (e) {
      this.#print(2, `net: failed to connect to ${id.name}: ${(e as Error).message}`);
    }
    if (this.#stopped) {
      if (session) await session.link.close();
      return;
    }
    const current = this.#peers.get(id.name);
    if (session && current === peer && !peer.conn) {
      this.#print(2, `net: connected to ${id.name}`);
      this.#dialed.add(this.#attach(peer, session));
      return;
    }
    if (!session && current === peer && !peer.conn) {
      // our attempt failed, but they reached us meanwhile: use that connection
      const side = this.#sideConnection(id.name, peer);
      if (side) return this.#promote(peer, side);
    }
    // lost a race (an inbound connection was adopted, or the peer was dropped)
    if (session) this.#track(session.link.close());
    const queued = peer.queue.splice(0);
    peer.connecting = false;
    const live = current?.conn && !current.conn.isClosed ? current : undefined;
    if (current === peer && !live) this.#peers.delete(id.name);
    for (const km of queued) {
      if (live) this.#sendOn(live, km);
      else this.#offline(km);
    }
  }

  /** Hyperdrive's priority: TCP if they publish a TCP port, otherwise WS. */
  async #connectDirect(id: Identity, proxyRequest: boolean): Promise<Session> {
    const ip = identityIp(id)!;
    const tcp = identityPort(id, TCP_PROTOCOL);
    const ws = identityPort(id, WS_PROTOCOL);
    if (tcp === undefined && ws === undefined) throw new Error(`${id.name} publishes no port`);
    const deadline = Date.now() + this.#timeoutMs;
    const link = tcp !== undefined
      ? await connectWithin(connectTcp(ip, tcp), this.#timeoutMs)
      : await connectWithin(connectWs(ip, ws!), this.#timeoutMs);
    try {
      return await withTimeout(
        link,
        initiateHandshake(link, this.#local, id, { proxyRequest }),
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      await link.close();
      throw e;
    }
  }

  /** Try each of the target's routers (shuffled) for a passthrough to it. */
  async #connectViaRouters(id: Identity): Promise<Session> {
    for (const routerName of shuffle(identityRouters(id) ?? [])) {
      if (routerName === this.#local.name) continue;
      const router = this.#pki.get(routerName);
      if (!router) continue;
      const ip = identityIp(router);
      const tcp = identityPort(router, TCP_PROTOCOL);
      const ws = identityPort(router, WS_PROTOCOL);
      if (!ip || (tcp === undefined && ws === undefined)) continue;
      const deadline = Date.now() + this.#timeoutMs;
      let link: Link | undefined;
      try {
        link = tcp !== undefined
          ? await connectWithin(connectTcp(ip, tcp), this.#timeoutMs)
          : await connectWithin(connectWs(ip, ws!), this.#timeoutMs);
        const session = await withTimeout(
          link,
          initiateHandshake(link, this.#local, id, { router: routerName }),
          Math.max(1, deadline - Date.now()),
        );
        this.#print(2, `net: connected to ${id.name} through ${routerName}`);
        return session;
      } catch (e) {
        this.#print(
          2,
          `net: routing to ${id.name} through ${routerName} failed: ${(e as Error).message}`,
        );
        await link?.close();
      }
    }
    throw new Error(`no router could reach ${id.name}`);
  }

  // ---------------------------------------------------------------------------
  // indirect nodes: keep a connection open to every router

  #maintainRouters(): void {
    if (this.#stopped) return;
    for (const name of identityRouters(this.ourIdentity) ?? []) {
      if (this.#peers.has(name)) continue;
      const router = this.#pki.get(name);
      if (!router) continue;
      this.#print(2, `net: attempting to connect to router ${name}`);
      const peer = this.#newPeer(router, false);
      peer.connecting = true;
      this.#insertPeer(name, peer);
      this.#track(this.#connectToPeer(peer, true));
    }
    this.#routerTimer = setTimeout(() => this.#maintainRouters(), this.#routerRetryMs);
  }

  // ---------------------------------------------------------------------------
  // inbound links

  #onInbound(link: Link): void {
    this.#track((async () => {
      await this.#started;
      if (this.#stopped) return link.close();
      try {
        await withTimeout(link, this.#acceptLink(link), this.#timeoutMs);
      } catch (e) {
        this.#print(
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
    const first = await link.recvRaw();
    if (first.length !== NOISE_E_LEN) {
      // not a Noise `e`: a RoutingRequest asking us to act as a router
      const { from, target } = validateRoutingRequest(this.#local.name, first, this.#lookup);
      return await this.#createPassthrough(from, target, link);
    }
    const s = await respondHandshake(link, this.#local, first, this.#lookup);
    if (this.#stopped) return void (await link.close());
    const name = s.peer.name;
    const existing = this.#peers.get(name);
    if (existing) {
      existing.identity = s.peer;
      existing.routingFor = s.proxyRequest;
      this.#touch(existing);
      // Both sides may dial at once; the connection opened by the smaller name wins on
      // both sides. If ours (opening or open) wins, keep theirs aside: they close it,
      // and it stands in if ours fails. Otherwise theirs replaces ours.
      const ours = existing.conn && !existing.conn.isClosed && this.#dialed.has(existing.conn);
      if (this.#local.name < name && ((existing.connecting && !existing.conn) || ours)) {
        this.#connectionFor(existing, s);
        return;
      }
      this.#attach(existing, s);
    } else {
      const peer = this.#newPeer(s.peer, s.proxyRequest);
      this.#insertPeer(name, peer);
      this.#attach(peer, s);
    }
  }

  // ---------------------------------------------------------------------------
  // routers: passthroughs

  async #createPassthrough(from: Identity, target: Identity, link: Link): Promise<void> {
    if (this.#maxPassthroughs === 0) {
      throw new Error(
        "passthrough denied: this node has disallowed passthroughs. Start node with `--max-passthroughs <VAL>` to allow passthroughs",
      );
    }
    // the other half, if the target already asked for this pairing
    const matchKey = passthroughKey(target.name, from.name);
    const match = this.#pending.get(matchKey);
    if (match) {
      clearTimeout(match.timer);
      this.#pending.delete(matchKey);
    }
    if (this.#active.size + this.#pending.size >= this.#maxPassthroughs) this.#evictPassthrough();
    if (match) return this.#splice(target.name, from.name, match.link, link);

    const ip = identityIp(target);
    const tcp = identityPort(target, TCP_PROTOCOL);
    const ws = identityPort(target, WS_PROTOCOL);
    if (ip && link.kind === "tcp" && tcp !== undefined) {
      const other = await connectWithin(connectTcp(ip, tcp), this.#timeoutMs);
      return this.#splice(from.name, target.name, link, other);
    }
    if (ip && link.kind === "ws" && ws !== undefined) {
      const other = await connectWithin(connectWs(ip, ws), this.#timeoutMs);
      return this.#splice(from.name, target.name, link, other);
    }
    // an indirect node we route for: ask it to connect back to us for `from`
    const peer = this.#peers.get(target.name);
    if (!peer?.conn || peer.conn.isClosed) {
      throw new Error(`can't route to ${target.name}, not a peer, for ${from.name}`);
    }
    if (!peer.routingFor) {
      throw new Error(`we don't do routing for ${target.name}, for ${from.name}`);
    }
    peer.conn.send({
      id: this.#ctx?.newMessageId() ?? 0n,
      source: this.#netAddress,
      target: { node: target.name, process: NET_PROCESS_ID },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: 5n,
          body: encodeNetAction({ tag: "ConnectionRequest", from: from.name }),
          metadata: undefined,
          capabilities: [],
        },
      },
    });
    const key = passthroughKey(from.name, target.name);
    const stale = this.#pending.get(key);
    if (stale) {
      clearTimeout(stale.timer);
      this.#track(stale.link.close());
    }
    // unmatched, it is useless once the initiator's handshake has timed out
    const timer = setTimeout(() => {
      if (this.#pending.get(key)?.link === link) {
        this.#pending.delete(key);
        this.#track(link.close());
      }
    }, 2 * this.#timeoutMs);
    this.#pending.set(key, { link, since: Date.now(), timer });
  }

  #evictPassthrough(): void {
    let oldest: { key: string; since: number; active: boolean } | undefined;
    for (const [key, a] of this.#active) {
      if (!oldest || a.since < oldest.since) oldest = { key, since: a.since, active: true };
    }
    for (const [key, p] of this.#pending) {
      if (!oldest || p.since <= oldest.since) oldest = { key, since: p.since, active: false };
    }
    if (!oldest) return;
    if (oldest.active) {
      const a = this.#active.get(oldest.key)!;
      this.#active.delete(oldest.key);
      for (const l of a.links) this.#track(l.close());
    } else {
      const p = this.#pending.get(oldest.key)!;
      clearTimeout(p.timer);
      this.#pending.delete(oldest.key);
      this.#track(p.link.close());
    }
  }

  #splice(from: string, target: string, a: Link, b: Link): void {
    const key = passthroughKey(from, target);
    const entry: ActivePassthrough = { since: Date.now(), links: [a, b] };
    this.#active.set(key, entry);
    this.#print(2, `net: passthrough ${from} -> ${target}`);
    // runs past the inbound handshake timeout: tracked on its own
    this.#track(
      a.splice(b).finally(() => {
        if (this.#active.get(key) === entry) this.#active.delete(key);
      }),
    );
  }

  // ---------------------------------------------------------------------------
  // messages for net:distro:sys itself

  handleMessage(km: KernelMessage): void {
    if (this.#stopped) return;
    if (km.target.node !== this.#local.name) return this.#sendToPeer(km);
    if (!processIdEquals(km.target.process, NET_PROCESS_ID)) return;
    if (km.message.tag === "response") {
      return this.#handleResponse(km.source.node, km.message.val[0].body);
    }
    const body = km.message.val.body;
    if (km.source.node === this.#local.name) return this.#handleLocalRequest(km, body);
    this.#handleRemoteRequest(km, body);
  }

  #respond(km: KernelMessage, response: NetResponse, blob?: LazyLoadBlob): void {
    this.#ctx?.sendToLoop(makeResponse(km, this.#netAddress, encodeNetResponse(response), blob));
  }

  #handleLocalRequest(km: KernelMessage, body: Uint8Array): void {
    let action: NetAction;
    try {
      action = decodeNetAction(body);
    } catch (e) {
      this.#print(2, `net: ignoring request that is not a NetAction: ${(e as Error).message}`);
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
      case "GetPeers":
        return this.#respond(km, { Peers: [...this.#peers.values()].map((p) => p.identity) });
      case "GetDiagnostics":
        return this.#respond(km, { Diagnostics: this.diagnostics() });
      case "Sign": {
        const message = this.#signedMessage(km.source, km.lazyLoadBlob);
        const signature = signWithNetworkingKey(this.#local.networkingKey, message);
        return this.#respond(km, "Signed", { mime: undefined, bytes: signature });
      }
      case "GetPeer": {
        const id = action.name === this.#local.name ? this.ourIdentity : this.#pki.get(action.name);
        return this.#respond(km, { Peer: id ?? null });
      }
      case "Verify": {
        const message = this.#signedMessage(action.from, km.lazyLoadBlob);
        // as Hyperdrive: a signer missing from the PKI is checked against our own key
        const signer = this.#pki.get(action.from.node);
        const key = signer ? netKeyFromHex(signer.networking_key) : this.publicKey;
        const verified = verifyNetworkingSignature(key, message, action.signature);
        return this.#respond(km, { Verified: verified });
      }
      case "ConnectionRequest":
        // only means something from a router
        return;
    }
  }

  /** What Sign signs and Verify checks: the address string, then the blob bytes. */
  #signedMessage(address: Address, blob: LazyLoadBlob | undefined): Uint8Array {
    const head = textEncoder.encode(addressToString(address));
    const tail = blob?.bytes ?? new Uint8Array(0);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  }

  #handleRemoteRequest(km: KernelMessage, body: Uint8Array): void {
    let action: NetAction | undefined;
    try {
      action = decodeNetAction(body);
    } catch {
      action = undefined;
    }
    if (action?.tag === "HnsUpdate" || action?.tag === "HnsBatchUpdate") {
      this.#print(2, "net: not allowed to update PKI from remote");
      return;
    }
    if (action?.tag === "ConnectionRequest") return this.#onConnectionRequest(km, action.from);
    // anything else from a remote node is a "hello": print it and ack
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      text = "!!message parse error!!";
    }
    this.#print(0, `\x1b[3;32m${km.source.node}: ${text}\x1b[0m`);
    this.#ctx?.sendToLoop(makeResponse(km, this.#netAddress, textEncoder.encode("ack")));
  }

  /** A router of ours has a pending passthrough for us: connect back through it. */
  #onConnectionRequest(km: KernelMessage, fromName: string): void {
    const routers = identityRouters(this.ourIdentity);
    if (!routers || isDirect(this.ourIdentity)) {
      return this.#print(2, "net: ConnectionRequest but we are not an indirect node");
    }
    if (!routers.includes(km.source.node)) {
      return this.#print(2, "net: ConnectionRequest from a node that is not one of our routers");
    }
    const router = this.#pki.get(km.source.node);
    const peerId = this.#pki.get(fromName);
    if (!router) return this.#print(2, "net: router not in PKI");
    if (!peerId) return this.#print(2, `net: peer ${fromName} not in PKI`);
    this.#track(this.#recvViaRouter(peerId, router));
  }

  async #recvViaRouter(peerId: Identity, router: Identity): Promise<void> {
    const ip = identityIp(router);
    const tcp = identityPort(router, TCP_PROTOCOL);
    const ws = identityPort(router, WS_PROTOCOL);
    if (!ip || (tcp === undefined && ws === undefined)) return;
    const deadline = Date.now() + this.#timeoutMs;
    const link = tcp !== undefined
      ? await connectWithin(connectTcp(ip, tcp), this.#timeoutMs)
      : await connectWithin(connectWs(ip, ws!), this.#timeoutMs);
    let session: Session;
    try {
      session = await withTimeout(
        link,
        respondViaRouter(link, this.#local, peerId, router.name),
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      await link.close();
      throw new Error(`error getting routed to ${peerId.name}: ${(e as Error).message}`);
    }
    if (this.#stopped) return void (await link.close());
    const existing = this.#peers.get(peerId.name);
    if (existing) {
      this.#touch(existing);
      this.#attach(existing, session);
    } else {
      const peer = this.#newPeer(peerId, false);
      this.#insertPeer(peerId.name, peer);
      this.#attach(peer, session);
    }
  }

  #handleResponse(sourceNode: string, body: Uint8Array): void {
    let response: NetResponse;
    try {
      response = decodeNetResponse(body);
    } catch {
      return;
    }
    // an indirect node declined the passthrough we were holding for it: only the
    // pairing (Rejected's node -> the node that answered), as Hyperdrive
    if (typeof response === "object" && "Rejected" in response) {
      const key = passthroughKey(response.Rejected, sourceNode);
      const p = this.#pending.get(key);
      if (p) {
        clearTimeout(p.timer);
        this.#pending.delete(key);
        this.#track(p.link.close());
      }
    }
  }

  diagnostics(): string {
    const lines: string[] = [];
    lines.push(`our Identity: ${JSON.stringify(this.ourIdentity)}`);
    lines.push(`we have connections with ${this.#peers.size} peers (${this.#maxPeers} max):`);
    const now = Date.now();
    for (const [name, p] of this.#peers) {
      const state = p.connecting ? " (connecting)" : "";
      const routing = p.routingFor ? " (routing)" : "";
      const ago = Math.max(0, Math.floor((now - p.lastMessage) / 1000));
      lines.push(`    ${name},${routing}${state} last message ${ago}s ago`);
    }
    if (this.#maxPassthroughs > 0) {
      lines.push(`we allow ${this.#maxPassthroughs} max passthroughs`);
    }
    const pairs = (m: Map<string, unknown>) =>
      [...m.keys()].map((k) => `    ${k.replace("\u0000", " -> ")}`);
    if (this.#pending.size > 0) {
      lines.push(`we have ${this.#pending.size} pending passthroughs:`, ...pairs(this.#pending));
    }
    if (this.#active.size > 0) {
      lines.push(`we have ${this.#active.size} active passthroughs:`, ...pairs(this.#active));
    }
    lines.push(`we have ${this.#conns.size} open peer connections`);
    lines.push(`we have ${this.#pki.size} entries in the PKI`);
    return lines.join("\r\n") + "\r\n";
  }
}

/** Build net:distro:sys. Listeners (direct nodes) are bound here, so `identity` is final. */
export function createNetModule(opts: NetModuleOptions): NetModule {
  return new NetModuleImpl(opts);
}
