// Connecting (Hyperdrive's net/connect.rs and its Peers): the peer table with its
// max-peers limit, dialing a node directly or through its routers, adopting the
// connections peers open to us, and the listeners they open them on. Messages for
// a peer wait in its queue while its connection opens; a peer that cannot be
// reached turns them into SendError Offline. So does a peer that closes a
// connection we just opened without reading what we sent on it (it refused us
// after the handshake), and a message a closing connection never wrote is sent
// once more through the table (then Offline): see connection.ts.

import type { KernelMessage } from "../wire/core.ts";
import {
  type Identity,
  identityIp,
  identityPort,
  identityRouters,
  isDirect,
  TCP_PROTOCOL,
  WS_PROTOCOL,
} from "../wire/net.ts";
import { PeerConnection } from "./connection.ts";
import type { NetEnv } from "./env.ts";
import { initiateHandshake, type Session } from "./handshake.ts";
import { connectWithin, FrameError, type Link, type Listener, withTimeout } from "./link.ts";
import { connectTcp, findFreePort, listenTcp } from "./tcp.ts";
import { connectWs, serveWs } from "./ws.ts";

export const DEFAULT_MAX_PEERS = 32;
export const DEFAULT_TCP_PORT = 10000;
export const DEFAULT_WS_PORT = 9000;

export interface Peer {
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

export interface Listeners {
  tcp?: Listener;
  ws?: Listener;
  /** protocol -> bound port, as published in our HNS record */
  ports: Record<string, number>;
}

/**
 * Bind a direct node's listeners: a port number, 0 for any free port, false for none,
 * or (undefined) the first free port at or above Hyperdrive's default. At least one.
 */
/**
 * Listens on the first free port at or above `start`. Another program may take the port
 * found free before we bind it (nodes booting side by side): then the search goes on.
 */
function onFreePort<T>(hostname: string, start: number, bind: (port: number) => T): T {
  for (let from = start, tries = 0;; tries++) {
    const port = findFreePort(hostname, from);
    try {
      return bind(port);
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || tries >= 20) throw e;
      from = port + 1;
    }
  }
}

export function listen(
  hostname: string,
  tcpPort: number | false | undefined,
  wsPort: number | false | undefined,
  onInbound: (link: Link) => void,
): Listeners {
  const out: Listeners = { ports: {} };
  try {
    if (tcpPort !== false) {
      out.tcp = tcpPort === undefined
        ? onFreePort(hostname, DEFAULT_TCP_PORT, (p) => listenTcp(hostname, p, onInbound))
        : listenTcp(hostname, tcpPort, onInbound);
      out.ports[TCP_PROTOCOL] = out.tcp.port;
    }
    if (wsPort !== false) {
      out.ws = wsPort === undefined
        ? onFreePort(hostname, DEFAULT_WS_PORT, (p) => serveWs(hostname, p, onInbound))
        : serveWs(hostname, wsPort, onInbound);
      out.ports[WS_PROTOCOL] = out.ws.port;
    }
  } catch (e) {
    out.tcp?.close();
    out.ws?.close();
    throw e;
  }
  if (!out.tcp && !out.ws) {
    throw new Error("net: need at least one networking protocol (tcpPort or wsPort)");
  }
  return out;
}

/**
 * Open a link to a direct node's published address: TCP if it publishes a TCP port,
 * else WS (Hyperdrive's priority). undefined: it publishes no ip or no port.
 */
export function dialDirect(id: Identity, timeoutMs: number): Promise<Link> | undefined {
  const ip = identityIp(id);
  if (!ip) return undefined;
  const tcp = identityPort(id, TCP_PROTOCOL);
  if (tcp !== undefined) return connectWithin(connectTcp(ip, tcp), timeoutMs);
  const ws = identityPort(id, WS_PROTOCOL);
  if (ws !== undefined) return connectWithin(connectWs(ip, ws), timeoutMs);
  return undefined;
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The peer table: at most one primary connection per peer, at most maxPeers peers. */
export class Peers {
  readonly #env: NetEnv;
  readonly #peers = new Map<string, Peer>();
  /** Every open peer connection, including ones not (yet) a peer's primary. */
  readonly #conns = new Set<PeerConnection>();
  /** Connections we opened (as Noise initiator), for the simultaneous-dial tie-break. */
  readonly #dialed = new WeakSet<PeerConnection>();
  /** Messages already sent once more after a connection did not write them. */
  readonly #resent = new WeakSet<KernelMessage>();
  #seq = 0;

  constructor(env: NetEnv) {
    this.#env = env;
  }

  get(name: string): Peer | undefined {
    return this.#peers.get(name);
  }

  has(name: string): boolean {
    return this.#peers.has(name);
  }

  get size(): number {
    return this.#peers.size;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  names(): string[] {
    return [...this.#peers.keys()];
  }

  entries(): IterableIterator<[string, Peer]> {
    return this.#peers.entries();
  }

  /** Close every connection and forget every peer (shutdown). */
  closeAll(): Promise<unknown>[] {
    const closing = [...this.#conns].map((c) => c.close());
    this.#peers.clear();
    return closing;
  }

  touch(peer: Peer): void {
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
    this.touch(peer);
    return peer;
  }

  /** Insert, then drop the least recently active peer if over max-peers. */
  #insert(name: string, peer: Peer): void {
    const old = this.#peers.get(name);
    if (old && old !== peer) this.#drop(name, old);
    this.#peers.set(name, peer);
    const max = this.#env.settings.maxPeers;
    if (this.#peers.size > max) {
      let oldest: [string, Peer] | undefined;
      for (const entry of this.#peers) {
        if (!oldest || entry[1].lastSeq < oldest[1].lastSeq) oldest = entry;
      }
      this.#env.print(2, `net: over ${max} peers, dropping ${oldest![0]}`);
      this.#drop(oldest![0], oldest![1]);
    }
  }

  #drop(name: string, peer: Peer): void {
    if (this.#peers.get(name) === peer) this.#peers.delete(name);
    for (const conn of this.#conns) {
      if (conn.peerName === name) this.#env.track(conn.close());
    }
  }

  /** An open connection with `name` that is not its peer's primary one. */
  #sideConnection(name: string, peer: Peer): PeerConnection | undefined {
    for (const conn of this.#conns) {
      if (conn.peerName === name && conn !== peer.conn && !conn.isClosed) return conn;
    }
    return undefined;
  }

  /**
   * A connection for `session`. One we dialed keeps what it sends until the peer
   * shows it accepted us (see connection.ts), for as long as a responder takes to
   * decide (the handshake timeout).
   */
  #connectionFor(peer: Peer, session: Session, dialed = false): PeerConnection {
    const env = this.#env;
    const conn = new PeerConnection(
      session,
      peer.identity.name,
      {
        onMessage: (km) => {
          const current = this.#peers.get(km.source.node);
          if (current) this.touch(current);
          env.ctx?.sendToLoop(km);
        },
        onClose: (conn, _reason, lost) => {
          this.#conns.delete(conn);
          const current = this.#peers.get(conn.peerName);
          if (current?.conn === conn) {
            const side = this.#sideConnection(conn.peerName, current);
            if (side) this.#promote(current, side);
            else this.#peers.delete(conn.peerName);
          }
          if (env.stopped) return;
          // the peer refused us: what it did not read is Offline, as if it had never
          // answered the dial (it may still be catching up on the PKI; a later
          // message dials again)
          for (const km of lost.refused) this.#offline(km);
          for (const km of lost.unsent) this.#resend(km);
        },
        onUnsent: (km) => this.#resend(km),
        print: (v, t) => env.print(v, t),
      },
      env.settings.idleMs,
      dialed ? env.settings.timeoutMs : 0,
    );
    this.#conns.add(conn);
    if (dialed) this.#dialed.add(conn);
    return conn;
  }

  /** Put an open session into `peer` and flush what was queued for it. */
  #attach(peer: Peer, session: Session, dialed = false): PeerConnection {
    const conn = this.#connectionFor(peer, session, dialed);
    this.#promote(peer, conn);
    return conn;
  }

  /**
   * A message a connection never wrote (it closed first) goes through the table
   * once more, as Hyperdrive re-sends a message its peer's closed channel refused:
   * on another open connection, or a new one. Not written twice: Offline.
   */
  #resend(km: KernelMessage): void {
    if (this.#env.stopped) return;
    if (this.#resent.has(km)) return this.#offline(km);
    this.#resent.add(km);
    this.send(km);
  }

  /** Make `conn` the peer's primary connection (closing any previous one) and flush the queue. */
  #promote(peer: Peer, conn: PeerConnection): void {
    const old = peer.conn;
    peer.conn = conn;
    peer.connecting = false;
    if (old && old !== conn) this.#env.track(old.close());
    const queued = peer.queue.splice(0);
    for (const km of queued) this.#sendOn(peer, km);
  }

  #sendOn(peer: Peer, km: KernelMessage): void {
    try {
      peer.conn!.send(km);
      this.touch(peer);
    } catch (e) {
      if (e instanceof FrameError) {
        // dropped: the sender gets a Timeout if it expected a response
        this.#env.print(0, `net: tried to send too-large message: ${e.message}`);
      } else {
        throw e;
      }
    }
  }

  #offline(km: KernelMessage): void {
    this.#env.ctx?.sendErrorToLoop({
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

  /**
   * The send path: a message for another node goes on its open connection, waits in
   * the queue of one being opened, or opens one (Offline if it is not in the PKI).
   */
  send(km: KernelMessage): void {
    const name = km.target.node;
    const existing = this.#peers.get(name);
    if (existing) {
      if (existing.conn && !existing.conn.isClosed) return this.#sendOn(existing, km);
      if (existing.connecting) {
        existing.queue.push(km);
        this.touch(existing);
        return;
      }
      this.#drop(name, existing);
    }
    const identity = this.#env.pki.get(name);
    if (!identity) return this.#offline(km);
    const peer = this.#newPeer(identity, false);
    const open = [...this.#conns].find((c) => c.peerName === name && !c.isClosed);
    if (open) {
      // a connection they opened outlived our record of them
      this.#insert(name, peer);
      this.#promote(peer, open);
      return this.#sendOn(peer, km);
    }
    peer.queue.push(km);
    peer.connecting = true;
    this.#insert(name, peer);
    this.#env.track(this.#connect(peer, false));
  }

  /** An indirect node's router: connect to it asking it to route for us (proxy_request). */
  dialRouter(router: Identity): void {
    const peer = this.#newPeer(router, false);
    peer.connecting = true;
    this.#insert(router.name, peer);
    this.#env.track(this.#connect(peer, true));
  }

  async #connect(peer: Peer, proxyRequest: boolean): Promise<void> {
    const env = this.#env;
    const id = peer.identity;
    let session: Session | undefined;
    try {
      if (isDirect(id)) {
        env.print(2, `net: attempting to connect to ${id.name} directly`);
        session = await this.#connectDirect(id, proxyRequest);
      } else {
        session = await this.#connectViaRouters(id);
      }
    } catch (e) {
      env.print(2, `net: failed to connect to ${id.name}: ${(e as Error).message}`);
    }
    if (env.stopped) {
      if (session) await session.link.close();
      return;
    }
    const current = this.#peers.get(id.name);
    if (session && current === peer && !peer.conn) {
      env.print(2, `net: connected to ${id.name}`);
      this.#attach(peer, session, true);
      return;
    }
    if (!session && current === peer && !peer.conn) {
      // our attempt failed, but they reached us meanwhile: use that connection
      const side = this.#sideConnection(id.name, peer);
      if (side) return this.#promote(peer, side);
    }
    // lost a race (an inbound connection was adopted, or the peer was dropped)
    if (session) env.track(session.link.close());
    const queued = peer.queue.splice(0);
    peer.connecting = false;
    const live = current?.conn && !current.conn.isClosed ? current : undefined;
    if (current === peer && !live) this.#peers.delete(id.name);
    for (const km of queued) {
      if (live) this.#sendOn(live, km);
      else this.#offline(km);
    }
  }

  async #connectDirect(id: Identity, proxyRequest: boolean): Promise<Session> {
    const { timeoutMs } = this.#env.settings;
    const deadline = Date.now() + timeoutMs;
    const dialing = dialDirect(id, timeoutMs);
    if (!dialing) throw new Error(`${id.name} publishes no port`);
    const link = await dialing;
    try {
      return await withTimeout(
        link,
        initiateHandshake(link, this.#env.local, id, { proxyRequest }),
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      await link.close();
      throw e;
    }
  }

  /** Try each of the target's routers (shuffled) for a passthrough to it. */
  async #connectViaRouters(id: Identity): Promise<Session> {
    const env = this.#env;
    const { timeoutMs } = env.settings;
    for (const routerName of shuffle(identityRouters(id) ?? [])) {
      if (routerName === env.local.name) continue;
      const router = env.pki.get(routerName);
      if (!router) continue;
      const deadline = Date.now() + timeoutMs;
      const dialing = dialDirect(router, timeoutMs);
      if (!dialing) continue;
      let link: Link | undefined;
      try {
        link = await dialing;
        const session = await withTimeout(
          link,
          initiateHandshake(link, env.local, id, { router: routerName }),
          Math.max(1, deadline - Date.now()),
        );
        env.print(2, `net: connected to ${id.name} through ${routerName}`);
        return session;
      } catch (e) {
        env.print(
          2,
          `net: routing to ${id.name} through ${routerName} failed: ${(e as Error).message}`,
        );
        await link?.close();
      }
    }
    throw new Error(`no router could reach ${id.name}`);
  }

  /** A session a peer opened with us (directly or through a router of theirs). */
  accept(s: Session & { peer: Identity; proxyRequest: boolean }): void {
    const name = s.peer.name;
    const existing = this.#peers.get(name);
    if (existing) {
      existing.identity = s.peer;
      existing.routingFor = s.proxyRequest;
      this.touch(existing);
      // Both sides may dial at once; the connection opened by the smaller name wins on
      // both sides. If ours (opening or open) wins, keep theirs aside: they close it,
      // and it stands in if ours fails. Otherwise theirs replaces ours.
      const ours = existing.conn && !existing.conn.isClosed && this.#dialed.has(existing.conn);
      if (this.#env.local.name < name && ((existing.connecting && !existing.conn) || ours)) {
        this.#connectionFor(existing, s);
        return;
      }
      this.#attach(existing, s);
    } else {
      const peer = this.#newPeer(s.peer, s.proxyRequest);
      this.#insert(name, peer);
      this.#attach(peer, s);
    }
  }

  /** A session we opened through a router, answering its ConnectionRequest. */
  adopt(peerId: Identity, session: Session): void {
    const existing = this.#peers.get(peerId.name);
    if (existing) {
      this.touch(existing);
      this.#attach(existing, session);
    } else {
      const peer = this.#newPeer(peerId, false);
      this.#insert(peerId.name, peer);
      this.#attach(peer, session);
    }
  }
}
