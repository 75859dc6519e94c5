// Indirect nodes and routers. A router splices two links into a passthrough: the
// initiator's (it sent a RoutingRequest naming the target) and one to the target:
// dialed when the target is direct, or, for an indirect node it routes for, the
// link that node opens back after a ConnectionRequest. An indirect node keeps a
// connection to each of its routers (Hyperdrive's indirect.rs) and answers their
// ConnectionRequests by connecting back through them.

import { type KernelMessage, NET_PROCESS_ID } from "../wire/core.ts";
import {
  type Identity,
  identityIp,
  identityPort,
  identityRouters,
  isDirect,
  type NetAction,
  TCP_PROTOCOL,
  WS_PROTOCOL,
} from "../wire/net.ts";
import { encodeNetAction } from "./codec.ts";
import type { NetEnv } from "./env.ts";
import { respondViaRouter, type Session } from "./handshake.ts";
import { connectWithin, type Link, withTimeout } from "./link.ts";
import { dialDirect, type Peers } from "./peers.ts";
import { connectTcp } from "./tcp.ts";
import { connectWs } from "./ws.ts";

/** How often an indirect node retries routers it is not connected to. */
export const ROUTER_RETRY_MS = 4000;

interface PendingPassthrough {
  link: Link;
  since: number;
  timer: ReturnType<typeof setTimeout>;
}

interface ActivePassthrough {
  since: number;
  links: [Link, Link];
}

/** (from, target): Hyperdrive keys passthroughs by the pair of names. */
const passthroughKey = (from: string, target: string) => `${from}\u0000${target}`;

export class Routing {
  readonly #env: NetEnv;
  readonly #peers: Peers;
  readonly #pending = new Map<string, PendingPassthrough>();
  readonly #active = new Map<string, ActivePassthrough>();
  #routerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(env: NetEnv, peers: Peers) {
    this.#env = env;
    this.#peers = peers;
  }

  /** Stop retrying routers; close every passthrough (shutdown). */
  closeAll(): Promise<unknown>[] {
    clearTimeout(this.#routerTimer);
    const closing: Promise<unknown>[] = [];
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      closing.push(p.link.close());
    }
    this.#pending.clear();
    for (const a of this.#active.values()) closing.push(...a.links.map((l) => l.close()));
    return closing;
  }

  // ---------------------------------------------------------------------------
  // as a router: passthroughs

  /** A RoutingRequest (already validated) on `link`: reach `target` for `from`. */
  async createPassthrough(from: Identity, target: Identity, link: Link): Promise<void> {
    const env = this.#env;
    const { maxPassthroughs, timeoutMs } = env.settings;
    if (maxPassthroughs === 0) {
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
    if (this.#active.size + this.#pending.size >= maxPassthroughs) this.#evict();
    if (match) return this.#splice(target.name, from.name, match.link, link);

    // a direct target is dialed on the initiator's transport
    const ip = identityIp(target);
    const tcp = identityPort(target, TCP_PROTOCOL);
    const ws = identityPort(target, WS_PROTOCOL);
    if (ip && link.kind === "tcp" && tcp !== undefined) {
      const other = await connectWithin(connectTcp(ip, tcp), timeoutMs);
      return this.#splice(from.name, target.name, link, other);
    }
    if (ip && link.kind === "ws" && ws !== undefined) {
      const other = await connectWithin(connectWs(ip, ws), timeoutMs);
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
    const ask: NetAction = { tag: "ConnectionRequest", from: from.name };
    peer.conn.send({
      id: env.ctx?.newMessageId() ?? 0n,
      source: env.netAddress,
      target: { node: target.name, process: NET_PROCESS_ID },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: 5n,
          body: encodeNetAction(ask),
          metadata: undefined,
          capabilities: [],
        },
      },
    });
    const key = passthroughKey(from.name, target.name);
    const stale = this.#pending.get(key);
    if (stale) {
      clearTimeout(stale.timer);
      env.track(stale.link.close());
    }
    // unmatched, it is useless once the initiator's handshake has timed out
    const timer = setTimeout(() => {
      if (this.#pending.get(key)?.link === link) {
        this.#pending.delete(key);
        env.track(link.close());
      }
    }, 2 * timeoutMs);
    this.#pending.set(key, { link, since: Date.now(), timer });
  }

  /** Make room: close the oldest passthrough, active or pending. */
  #evict(): void {
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
      for (const l of a.links) this.#env.track(l.close());
    } else {
      const p = this.#pending.get(oldest.key)!;
      clearTimeout(p.timer);
      this.#pending.delete(oldest.key);
      this.#env.track(p.link.close());
    }
  }

  #splice(from: string, target: string, a: Link, b: Link): void {
    const key = passthroughKey(from, target);
    const entry: ActivePassthrough = { since: Date.now(), links: [a, b] };
    this.#active.set(key, entry);
    this.#env.print(2, `net: passthrough ${from} -> ${target}`);
    // runs past the inbound handshake timeout: tracked on its own
    this.#env.track(
      a.splice(b).finally(() => {
        if (this.#active.get(key) === entry) this.#active.delete(key);
      }),
    );
  }

  /**
   * NetResponse::Rejected(rejected) from `sourceNode`: the indirect node declined the
   * passthrough we held for it. Only that pairing is closed, as Hyperdrive.
   */
  onRejected(rejected: string, sourceNode: string): void {
    const key = passthroughKey(rejected, sourceNode);
    const p = this.#pending.get(key);
    if (p) {
      clearTimeout(p.timer);
      this.#pending.delete(key);
      this.#env.track(p.link.close());
    }
  }

  /** "from -> target" lines for GetDiagnostics. */
  diagnostics(lines: string[]): void {
    const pairs = (m: Map<string, unknown>) =>
      [...m.keys()].map((k) => `    ${k.replace("\u0000", " -> ")}`);
    if (this.#pending.size > 0) {
      lines.push(`we have ${this.#pending.size} pending passthroughs:`, ...pairs(this.#pending));
    }
    if (this.#active.size > 0) {
      lines.push(`we have ${this.#active.size} active passthroughs:`, ...pairs(this.#active));
    }
  }

  // ---------------------------------------------------------------------------
  // as an indirect node

  /** Keep a connection open to every router of ours, retrying every routerRetryMs. */
  maintainRouters(): void {
    const env = this.#env;
    if (env.stopped) return;
    for (const name of identityRouters(env.ourIdentity) ?? []) {
      if (this.#peers.has(name)) continue;
      const router = env.pki.get(name);
      if (!router) continue;
      env.print(2, `net: attempting to connect to router ${name}`);
      this.#peers.dialRouter(router);
    }
    this.#routerTimer = setTimeout(() => this.maintainRouters(), env.settings.routerRetryMs);
  }

  /** A router of ours has a pending passthrough for us from `from`: connect back through it. */
  onConnectionRequest(km: KernelMessage, from: string): void {
    const env = this.#env;
    const routers = identityRouters(env.ourIdentity);
    if (!routers || isDirect(env.ourIdentity)) {
      return env.print(2, "net: ConnectionRequest but we are not an indirect node");
    }
    if (!routers.includes(km.source.node)) {
      return env.print(2, "net: ConnectionRequest from a node that is not one of our routers");
    }
    const router = env.pki.get(km.source.node);
    const peerId = env.pki.get(from);
    if (!router) return env.print(2, "net: router not in PKI");
    if (!peerId) return env.print(2, `net: peer ${from} not in PKI`);
    env.track(this.#recvViaRouter(peerId, router));
  }

  async #recvViaRouter(peerId: Identity, router: Identity): Promise<void> {
    const env = this.#env;
    const { timeoutMs } = env.settings;
    const deadline = Date.now() + timeoutMs;
    const dialing = dialDirect(router, timeoutMs);
    if (!dialing) return;
    const link = await dialing;
    let session: Session;
    try {
      session = await withTimeout(
        link,
        respondViaRouter(link, env.local, peerId, router.name),
        Math.max(1, deadline - Date.now()),
      );
    } catch (e) {
      await link.close();
      throw new Error(`error getting routed to ${peerId.name}: ${(e as Error).message}`);
    }
    if (env.stopped) return void (await link.close());
    this.#peers.adopt(peerId, session);
  }
}
