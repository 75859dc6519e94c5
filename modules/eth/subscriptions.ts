// Log subscriptions (EthAction::SubscribeLogs/UnsubscribeLogs): eth_subscribe at the first
// URL provider of the chain that takes it (local), else relayed through a node provider
// (remote: a random id of ours at the provider, updates pushed to us as EthSubResult with
// rsvp = the subscriber, a SubKeepalive every 30 s, 2 h without updates ends it). Updates
// go to the subscriber as EthSubResult requests. Also the provider side of relays: the
// keepalives other nodes send for the subscriptions we serve them.

import { type Address, addressToString, type KernelMessage } from "../../wire/core.ts";
import {
  encodeEth,
  ETH_PROCESS_ID,
  type EthAction,
  ethActionToJson,
  EthFailure,
  type EthSubResult,
  serdeValue,
} from "../../wire/eth.ts";
import { describe, type EthEnv } from "./env.ts";
import type { ProviderHealth } from "./health.ts";
import { relay } from "./request.ts";
import { type RpcConnection, RpcErrorReply, type RpcSubscription } from "./rpc.ts";
import type { Deadline, Timer } from "./timers.ts";

interface LocalSub {
  kind: "local";
  close(isError: boolean): void;
}

interface RemoteSub {
  kind: "remote";
  providerNode: string;
  deliver(r: EthSubResult): void;
  /** Stop without a word to the subscriber. */
  abort(): void;
}

type ActiveSub = LocalSub | RemoteSub;

type Built =
  | {
    kind: "local";
    rpcSub: RpcSubscription;
    start(subId: bigint, target: Address, rsvp: Address | undefined): LocalSub;
  }
  | { kind: "remote"; node: string; remoteSubId: bigint };

/** The module's subscriptions: those it serves (local or relayed) and their ends. */
export class Subscriptions {
  readonly #env: EthEnv;
  readonly #health: ProviderHealth;
  /** subscriber (or relaying eth module) address -> sub id -> subscription */
  readonly #subs = new Map<string, { address: Address; subs: Map<bigint, ActiveSub> }>();
  /** subscriber address -> its sub id -> the id we gave the node provider */
  readonly #localToRemote = new Map<string, Map<bigint, bigint>>();

  constructor(env: EthEnv, health: ProviderHealth) {
    this.#env = env;
    this.#health = health;
  }

  subscribe(
    kmId: bigint,
    target: Address,
    rsvp: Address | undefined,
    action: Extract<EthAction, { tag: "SubscribeLogs" }>,
  ) {
    void (async () => {
      const built = await this.#env.within(this.#env.t.subscribeTimeoutMs, async (dl) => {
        try {
          const b = await this.#buildSubscription(kmId, target, action, dl);
          // set up after the deadline: nobody will use it
          if (dl.aborted || this.#env.down) this.#disposeBuilt(b);
          return b;
        } catch (e) {
          if (e instanceof EthFailure) return e;
          this.#env.verbose(`eth: subscribe failed: ${describe(e)}`);
          return new EthFailure("NoRpcForChain");
        }
      });
      if (this.#env.down) return;
      if (built === undefined) return this.#env.respond(kmId, target, { Err: "RpcTimeout" });
      if (built instanceof EthFailure) return this.#env.respond(kmId, target, { Err: built.error });
      this.#env.respond(kmId, target, "Ok", rsvp);
      const subs = this.#subsOf(target);
      const { subId } = action;
      if (built.kind === "local") {
        const previous = subs.get(subId);
        if (previous) this.#closeSub(subId, previous, false);
        subs.set(subId, built.start(subId, target, rsvp));
      } else {
        let map = this.#localToRemote.get(addressToString(target));
        if (!map) this.#localToRemote.set(addressToString(target), map = new Map());
        map.set(subId, built.remoteSubId);
        subs.set(
          built.remoteSubId,
          this.#remoteSub(built.node, built.remoteSubId, subId, target),
        );
      }
    })();
  }

  #subsOf(target: Address): Map<bigint, ActiveSub> {
    const key = addressToString(target);
    let entry = this.#subs.get(key);
    if (!entry) this.#subs.set(key, entry = { address: target, subs: new Map() });
    return entry.subs;
  }

  #disposeBuilt(b: Built) {
    if (b.kind === "local") b.rpcSub.unsubscribe();
    else {
      this.#env.sendRequest(
        this.#env.ctx.newMessageId(),
        { node: b.node, process: ETH_PROCESS_ID },
        encodeEth(ethActionToJson({ tag: "UnsubscribeLogs", subId: b.remoteSubId })),
        {},
      );
    }
  }

  /** eth_subscribe at the first URL provider that takes it, else through a node provider. */
  async #buildSubscription(
    kmId: bigint,
    target: Address,
    action: Extract<EthAction, { tag: "SubscribeLogs" }>,
    dl: Deadline,
  ): Promise<Built> {
    const { chainId, kind, params } = action;
    if (kind === "newHeads") {
      this.#env.ctx.print(
        0,
        `warning: newHeads subscription (expensive!) requested by ${addressToString(target)}`,
      );
    }
    const aps = this.#env.providers.get(chainId);
    if (!aps) throw new EthFailure("NoRpcForChain");
    for (const u of [...aps.urls]) {
      const fresh = !u.conn;
      let conn: RpcConnection;
      try {
        conn = await this.#health.activate(u);
      } catch {
        this.#env.verbose(`eth: could not activate url provider ${u.url}`);
        continue;
      }
      if (dl.aborted) throw new EthFailure("RpcTimeout");
      const pending = new PendingItems();
      try {
        const rpcSub = await conn.subscribe([kind, serdeValue(params)], pending.handlers);
        return this.#localBuilt(rpcSub, pending);
      } catch (e) {
        this.#env.verbose(`eth: got error from url provider ${u.url}: ${describe(e)}`);
        if (!fresh && !(e instanceof RpcErrorReply) && u.conn === conn) {
          // this provider failed and needs a new connection
          this.#health.release(conn);
          u.conn = undefined;
        }
      }
    }
    const inbox = this.#env.openChannel(kmId);
    try {
      // our own id: at the provider, all our subscriptions are under our eth module's address
      const remoteSubId = this.#env.ctx.newMessageId();
      const nodes = this.#env.providers.get(chainId)?.nodes;
      if (!nodes) throw new EthFailure("NoRpcForChain");
      for (const n of [...nodes]) {
        this.#env.verbose(`eth: attempting to fulfill via ${n.hnsUpdate.name}`);
        const r = await relay(this.#env, kmId, target, n, {
          tag: "SubscribeLogs",
          subId: remoteSubId,
          chainId,
          kind,
          params,
        }, inbox);
        if (dl.aborted) throw new EthFailure("RpcTimeout");
        if (r === "Ok") return { kind: "remote", node: n.hnsUpdate.name, remoteSubId };
        // the answer to SubscribeLogs must be Ok; nonsense makes the node unusable
        if ("Response" in r || r.Err === "RpcMalformedResponse") {
          n.usable = false;
        }
      }
      throw new EthFailure("NoRpcForChain");
    } finally {
      inbox.close();
    }
  }

  #localBuilt(rpcSub: RpcSubscription, pending: PendingItems): Built {
    return {
      kind: "local",
      rpcSub,
      start: (subId, target, rsvp) => {
        let open = true;
        const sub: LocalSub = {
          kind: "local",
          close: (isError) => {
            if (!open) return;
            open = false;
            rpcSub.unsubscribe();
            if (isError) {
              this.#push(target, rsvp, {
                Err: { id: subId, error: "subscription closed due to network error" },
              });
            }
          },
        };
        pending.attach({
          onItem: (result) => {
            if (open) this.#push(target, rsvp, { Ok: { id: subId, result: serdeValue(result) } });
          },
          onClosed: (reason) => {
            if (!open) return;
            open = false;
            const subs = this.#subs.get(addressToString(target))?.subs;
            if (subs?.get(subId) === sub) subs.delete(subId);
            const error = `subscription (${
              addressToString(target)
            }) closed unexpectedly: ${reason}`;
            this.#env.verbose(`eth: closed local subscription due to error ${error}`);
            this.#push(target, rsvp, { Err: { id: subId, error } });
          },
        });
        return sub;
      },
    };
  }

  /** A subscription a node provider serves: forward its updates, keep it alive, notice its end. */
  #remoteSub(provider: string, remoteSubId: bigint, subId: bigint, target: Address): RemoteSub {
    const keepaliveId = this.#env.ctx.newMessageId();
    const providerAddress = { node: provider, process: ETH_PROCESS_ID };
    let ended = false;
    let idle: Timer | undefined;
    let tick: Timer | undefined;
    const stop = () => {
      ended = true;
      this.#env.cancel(idle);
      this.#env.cancel(tick);
      if (this.#env.channels.get(keepaliveId) === onChannel) this.#env.channels.delete(keepaliveId);
    };
    const end = (error: string) => {
      if (ended) return;
      stop();
      this.#env.verbose(`eth: closed subscription with provider node due to error ${error}`);
      // in case the provider did not close it on its side
      this.#env.sendRequest(
        this.#env.ctx.newMessageId(),
        providerAddress,
        encodeEth(ethActionToJson({ tag: "UnsubscribeLogs", subId: remoteSubId })),
        {},
      );
      const subs = this.#subs.get(addressToString(target))?.subs;
      if (subs?.get(remoteSubId) === sub) subs.delete(remoteSubId);
      const map = this.#localToRemote.get(addressToString(target));
      if (map?.get(subId) === remoteSubId) {
        map.delete(subId);
        if (map.size === 0) this.#localToRemote.delete(addressToString(target));
      }
      this.#push(target, undefined, { Err: { id: subId, error } });
    };
    const armIdle = () => {
      this.#env.cancel(idle);
      idle = this.#env.after(
        this.#env.t.remoteSubIdleMs,
        () => end("No updates received for 2 hours, subscription considered dead."),
      );
    };
    const keepalive = () => {
      if (ended) return;
      this.#env.sendRequest(keepaliveId, providerAddress, encodeEth(remoteSubId), { expects: 30n });
      tick = this.#env.after(this.#env.t.keepaliveMs, keepalive);
    };
    // any answer to a keepalive, or a send error, means the provider lost the subscription
    const onChannel = () => end("subscription node-provider failed keepalive");
    this.#env.channels.set(keepaliveId, onChannel);
    const sub: RemoteSub = {
      kind: "remote",
      providerNode: provider,
      deliver: (r) => {
        if (ended) return;
        if ("Ok" in r) {
          armIdle();
          this.#push(target, undefined, { Ok: { id: subId, result: serdeValue(r.Ok.result) } });
        } else {
          end(r.Err.error);
        }
      },
      abort: stop,
    };
    armIdle();
    keepalive();
    return sub;
  }

  /** Closes a subscription taken out of the map (Hyperdrive's ActiveSub::close). */
  #closeSub(id: bigint, sub: ActiveSub, isError: boolean) {
    if (sub.kind === "local") return sub.close(isError);
    // tell the provider node we don't need their services anymore
    this.#env.sendRequest(
      this.#env.ctx.newMessageId(),
      { node: sub.providerNode, process: ETH_PROCESS_ID },
      encodeEth(ethActionToJson({ tag: "UnsubscribeLogs", subId: id })),
      {},
    );
    sub.abort();
  }

  unsubscribe(km: KernelMessage, subId: bigint) {
    const key = addressToString(km.source);
    const entry = this.#subs.get(key);
    const mapping = this.#localToRemote.get(key);
    const dropMapping = () => {
      if (!mapping) return;
      mapping.delete(subId);
      if (mapping.size === 0) this.#localToRemote.delete(key);
    };
    if (!entry) {
      if (mapping) {
        dropMapping();
        return this.#env.respond(km.id, km.rsvp ?? km.source, "Ok");
      }
      this.#env.verbose(`eth: got unsubscribe from ${key} but no subscription found`);
      return this.#env.respond(km.id, km.source, { Err: "MalformedRequest" });
    }
    let resolved = subId;
    let sub = entry.subs.get(subId);
    const remoteId = mapping?.get(subId);
    if (sub) entry.subs.delete(subId);
    else if (remoteId !== undefined) {
      resolved = remoteId;
      sub = entry.subs.get(remoteId);
      entry.subs.delete(remoteId);
    }
    if (sub) {
      dropMapping();
      this.#closeSub(resolved, sub, false);
      this.#env.verbose(`eth: closed subscription ${subId} for ${km.source.node}`);
      this.#env.respond(km.id, km.rsvp ?? km.source, "Ok");
    } else if (remoteId !== undefined) {
      dropMapping();
      this.#env.respond(km.id, km.rsvp ?? km.source, "Ok");
    } else {
      this.#env.verbose(`eth: got unsubscribe from ${key} but no subscription ${subId} found`);
      this.#env.respond(km.id, km.source, { Err: "MalformedRequest" });
    }
    if (entry.subs.size === 0) this.#subs.delete(key);
  }

  /** An update from a node provider for a subscription relayed for one of our processes. */
  subResult(km: KernelMessage, result: EthSubResult) {
    if (!km.rsvp) {
      this.#env.verbose("eth: got eth_sub_result with no rsvp, ignoring");
      return;
    }
    const id = "Ok" in result ? result.Ok.id : result.Err.id;
    const subs = this.#subs.get(addressToString(km.rsvp))?.subs;
    const sub = subs?.get(id);
    if (sub?.kind === "remote") {
      if (sub.providerNode === km.source.node) return sub.deliver(result);
      this.#env.verbose("eth: got eth_sub_result but provider node did not match");
      subs!.delete(id);
      return this.#closeSub(id, sub, true);
    }
    // tell the provider we don't have this subscription, so it stops sending
    this.#env.verbose(`eth: got eth_sub_result but no matching sub ${id} found, unsubscribing`);
    this.#env.sendRequest(
      km.id,
      km.source,
      encodeEth(ethActionToJson({ tag: "UnsubscribeLogs", subId: id })),
      {},
    );
  }

  /** A relaying node checks that we still serve its subscription; silence means yes. */
  keepalive(km: KernelMessage, subId: bigint) {
    const key = addressToString(km.source);
    const entry = this.#subs.get(key);
    if (entry?.subs.has(subId)) return;
    if (entry && entry.subs.size === 0) this.#subs.delete(key);
    this.#env.verbose(`eth: got sub_keepalive from ${key} but no matching sub found`);
    this.#env.respond(km.id, km.source, { Err: { id: subId, error: "Subscription not found" } });
  }

  /** A subscription update, as a Request to the subscriber. */
  #push(target: Address, rsvp: Address | undefined, r: EthSubResult) {
    this.#env.sendRequest(this.#env.ctx.newMessageId(), target, encodeEth(r), { rsvp });
  }

  /** A subscriber is gone (a send error to it): close all its subscriptions. */
  closeAllOf(target: Address): void {
    const key = addressToString(target);
    const entry = this.#subs.get(key);
    if (entry) {
      this.#subs.delete(key);
      for (const [id, sub] of entry.subs) {
        this.#env.verbose(`eth: closed subscription ${id} in response to network error`);
        this.#closeSub(id, sub, true);
      }
    }
  }

  /** GetState's active_subscriptions: subscriber -> sub id -> provider node (null: local). */
  active(): Record<string, Record<string, string | null>> {
    const active_subscriptions: Record<string, Record<string, string | null>> = {};
    for (const [key, entry] of this.#subs) {
      const m: Record<string, string | null> = {};
      for (const [id, sub] of entry.subs) {
        m[`${id}`] = sub.kind === "local" ? null : sub.providerNode;
      }
      active_subscriptions[key] = m;
    }
    return active_subscriptions;
  }

  /** Shutdown: forget them all (the connections they ran on are closed). */
  clear(): void {
    this.#subs.clear();
  }
}

/** Items a fresh subscription receives before it is registered: kept, then handed over. */
class PendingItems {
  #items: unknown[] = [];
  #closed: string | undefined;
  #to: { onItem(r: unknown): void; onClosed(reason: string): void } | undefined;
  readonly handlers = {
    onItem: (r: unknown) => this.#to ? this.#to.onItem(r) : void this.#items.push(r),
    onClosed: (reason: string) =>
      this.#to ? this.#to.onClosed(reason) : void (this.#closed = reason),
  };
  attach(to: { onItem(r: unknown): void; onClosed(reason: string): void }) {
    this.#to = to;
    for (const r of this.#items.splice(0)) to.onItem(r);
    if (this.#closed !== undefined) to.onClosed(this.#closed);
  }
}
