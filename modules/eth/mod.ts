// eth:distro:sys -- Hyperdrive's ETH provider module (hyperdrive/src/eth): JSON-RPC
// requests and log subscriptions for processes, served by this node's RPC URL providers
// (http(s) through viem, ws(s) through ./rpc.ts) or relayed to node providers (other nodes'
// eth modules), and served by us for other nodes when our access settings let them.
//
// Request flow (wire/eth.ts): messages from other nodes first wait in a per-node queue
// (one handled every 200 ms, at most 100 waiting, else RateLimited); then serve():
// parse the IncomingReq -> check (remote EthAction: deny list, public or allow list;
// EthConfigAction: our node and eth's root capability) -> act. Requests and subscriptions
// run detached and answer when done (within expects_response, default 60 s), so one slow
// provider never holds up the mailbox.

import {
  type Address,
  addressToString,
  type Capability,
  type KernelMessage,
  NET_PROCESS_ID,
  type WrappedSendError,
} from "../../wire/core.ts";
import {
  type AccessSettings,
  encodeEth,
  ETH_PROCESS_ID,
  ETH_ROOT_CAP_PARAMS,
  type EthAction,
  ethActionToJson,
  type EthConfigAction,
  type EthConfigResponse,
  EthFailure,
  type EthSubResult,
  type IncomingReq,
  parseIncomingReq,
  type ProviderConfig,
  serdeValue,
} from "../../wire/eth.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { type Answer, isKernel, type RequestHandler, serve } from "../shared/runtime.ts";
import {
  ACCESS_SETTINGS_FILE,
  accessSettingsText,
  loadAccessSettings,
  loadProviderConfigs,
  PROVIDERS_FILE,
  savedConfigsText,
} from "./config.ts";
import { ProviderTable } from "./providers.ts";
import { type RpcConnection, RpcErrorReply, type RpcSubscription } from "./rpc.ts";
import type { Deadline, Timer } from "./timers.ts";
import { ProviderHealth } from "./health.ts";
import { METHODS, relay, Requests } from "./request.ts";
import { describe, EthEnv, type EthModuleOptions, HYPERDRIVE_TIMING, type Out } from "./env.ts";

export { ETH_PROCESS_ID, METHODS };
export { type EthModuleOptions, type EthTiming, HYPERDRIVE_TIMING } from "./env.ts";

/** Raised by check(): an EthConfigAction from a source without authority. */
class ConfigDenied extends Error {}

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

interface NodeQueue {
  items: KernelMessage[];
  nextAllowed: number;
  busy: boolean;
  idle?: Timer;
}

class EthModule implements RuntimeModule, RequestHandler<IncomingReq, Out> {
  readonly processId = ETH_PROCESS_ID;
  readonly public = false;
  readonly name = "eth";
  readonly remote = true;
  readonly answerErrorsAlways = true;
  self!: Address;
  readonly #env: EthEnv;
  readonly #health: ProviderHealth;
  readonly #requests: Requests;
  readonly #opts: EthModuleOptions;
  #rootCap!: Capability;
  #access: { public: boolean; allow: Set<string>; deny: Set<string> } = {
    public: false,
    allow: new Set(),
    deny: new Set(),
  };
  /** subscriber (or relaying eth module) address -> sub id -> subscription */
  #subs = new Map<string, { address: Address; subs: Map<bigint, ActiveSub> }>();
  /** subscriber address -> its sub id -> the id we gave the node provider */
  #localToRemote = new Map<string, Map<bigint, bigint>>();
  #queues = new Map<string, NodeQueue>();

  constructor(opts: EthModuleOptions) {
    this.#opts = opts;
    this.#env = new EthEnv({ ...HYPERDRIVE_TIMING, ...opts.timing });
    this.#health = new ProviderHealth(this.#env);
    this.#requests = new Requests(this.#env, this.#health);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#env.start(ctx);
    this.self = this.#env.self;
    this.#rootCap = { issuer: this.self, params: ETH_ROOT_CAP_PARAMS };
    const access = await loadAccessSettings(ctx.home);
    this.#access = {
      public: access.public,
      allow: new Set(access.allow),
      deny: new Set(access.deny),
    };
    this.#env.verbose(`eth: access settings loaded: ${accessSettingsText(this.#accessSettings())}`);
    const configs = await loadProviderConfigs(ctx.home, this.#opts, (v, t) => ctx.print(v, t));
    this.#env.providers = ProviderTable.from(configs);
    this.#env.verbose("eth: provider initialized");
    if (this.#opts.bootstrapPki !== false) this.#bootstrapPki(configs);
  }

  /** Hyperdrive's kernel hands net the node providers' records at boot (default_pki_entries). */
  #bootstrapPki(configs: ProviderConfig[]) {
    const records: HnsUpdate[] = [];
    for (const c of configs) if ("Node" in c.provider) records.push(c.provider.Node.hns_update);
    if (records.length === 0) return;
    this.#env.ctx.sendToLoop({
      id: this.#env.ctx.newMessageId(),
      source: this.self,
      target: { node: this.#env.ctx.our, process: NET_PROCESS_ID },
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: undefined,
          body: encodeNetAction({ tag: "HnsBatchUpdate", updates: records }),
          metadata: undefined,
          capabilities: [],
        },
      },
    });
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    if (this.#env.down) return;
    if (km.source.node !== this.#env.ctx.our) return this.#enqueueRemote(km);
    return serve(this.#env.ctx, this, km);
  }

  handleSendError(err: WrappedSendError): void {
    if (this.#env.down) return;
    this.#env.verbose(`eth: got network error from ${addressToString(err.error.target)}`);
    // a node we push subscription updates to is gone: close its subscriptions
    const key = addressToString(err.error.target);
    const entry = this.#subs.get(key);
    if (entry) {
      this.#subs.delete(key);
      for (const [id, sub] of entry.subs) {
        this.#env.verbose(`eth: closed subscription ${id} in response to network error`);
        this.#closeSub(id, sub, true);
      }
    }
    this.#env.channels.get(err.id)?.({ error: err });
  }

  // ---------------------------------------------------------------------------
  // The request template

  parse(_km: KernelMessage, req: { body: Uint8Array }): IncomingReq {
    return parseIncomingReq(req.body);
  }

  check(km: KernelMessage, incoming: IncomingReq): void {
    if (incoming.tag === "EthAction" && km.source.node !== this.#env.ctx.our) {
      const node = km.source.node;
      if (this.#access.deny.has(node) || (!this.#access.public && !this.#access.allow.has(node))) {
        this.#env.verbose("eth: got eth_action from unauthorized remote source");
        throw new EthFailure("PermissionDenied");
      }
    }
    if (incoming.tag === "EthConfigAction") {
      if (km.source.node !== this.#env.ctx.our) {
        this.#env.verbose("eth: got eth_config_action from unauthorized remote source");
        throw new ConfigDenied();
      }
      if (!isKernel(km.source) && !this.#env.ctx.hasCapability(km.source.process, this.#rootCap)) {
        this.#env.verbose("eth: got eth_config_action from unauthorized local source");
        throw new ConfigDenied();
      }
    }
  }

  act(km: KernelMessage, incoming: IncomingReq): Answer<Out> | undefined | Promise<Answer<Out>> {
    switch (incoming.tag) {
      case "EthAction": {
        const req = km.message.tag === "request" ? km.message.val : undefined;
        const seconds = req?.expectsResponse;
        const timeoutMs = seconds === undefined
          ? this.#env.t.defaultRequestTimeoutMs
          : Number(seconds) * 1000;
        this.#ethAction(km, incoming.action, timeoutMs);
        return undefined;
      }
      case "EthConfigAction":
        return this.#configAction(incoming.action).then((response) => ({ response }));
      case "EthSubResult":
        this.#subResult(km, incoming.result);
        return undefined;
      case "SubKeepalive":
        this.#keepalive(km, incoming.subId);
        return undefined;
    }
  }

  error(e: unknown): Out | undefined {
    if (e instanceof ConfigDenied) return "PermissionDenied";
    if (e instanceof EthFailure) return { Err: e.error };
    return { Err: "MalformedRequest" };
  }

  encode(response: Out): Uint8Array {
    return encodeEth(response);
  }

  onResponse(km: KernelMessage): void {
    const ch = this.#env.channels.get(km.id);
    if (ch) ch({ km });
    else this.#env.verbose("eth: got response but no matching channel found");
  }

  // ---------------------------------------------------------------------------
  // Messages from other nodes: a queue per node, one message per remoteRequestDelayMs

  #enqueueRemote(km: KernelMessage): void {
    const node = km.source.node;
    let q = this.#queues.get(node);
    if (!q) this.#queues.set(node, q = { items: [], nextAllowed: 0, busy: false });
    if (q.items.length >= this.#env.t.remoteQueueCapacity) {
      if (km.message.tag === "request") {
        this.#env.respond(km.id, km.rsvp ?? km.source, { Err: "RateLimited" });
      }
      return;
    }
    q.items.push(km);
    this.#env.cancel(q.idle);
    q.idle = undefined;
    this.#pump(node, q);
  }

  #pump(node: string, q: NodeQueue): void {
    if (q.busy || this.#env.down) return;
    const km = q.items.shift();
    if (!km) {
      q.idle = this.#env.after(this.#env.t.remoteQueueIdleMs, () => {
        if (this.#queues.get(node) === q && q.items.length === 0 && !q.busy) {
          this.#queues.delete(node);
        }
      });
      return;
    }
    q.busy = true;
    this.#env.after(Math.max(0, q.nextAllowed - Date.now()), () => {
      q.busy = false;
      q.nextAllowed = Date.now() + this.#env.t.remoteRequestDelayMs;
      try {
        const r = serve(this.#env.ctx, this, km);
        if (r instanceof Promise) r.catch((e) => this.#env.verbose(`eth: ${e}`));
      } catch (e) {
        this.#env.verbose(`eth: ${e}`);
      }
      this.#pump(node, q);
    });
  }

  // ---------------------------------------------------------------------------
  // EthAction

  #ethAction(km: KernelMessage, action: EthAction, timeoutMs: number): void {
    const what = action.tag === "Request"
      ? "request"
      : action.tag === "SubscribeLogs"
      ? "subscribe"
      : "unsubscribe";
    this.#env.verbose(`eth: handling ${what} from ${addressToString(km.source)}`);
    switch (action.tag) {
      case "SubscribeLogs":
        return this.#subscribe(km.id, km.source, km.rsvp, action);
      case "UnsubscribeLogs":
        return this.#unsubscribe(km, action.subId);
      case "Request":
        return this.#requests.request(km, action, timeoutMs);
    }
  }

  // ---------------------------------------------------------------------------
  // Subscriptions

  #subscribe(
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

  #unsubscribe(km: KernelMessage, subId: bigint) {
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
  #subResult(km: KernelMessage, result: EthSubResult) {
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
  #keepalive(km: KernelMessage, subId: bigint) {
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

  // ---------------------------------------------------------------------------
  // EthConfigAction

  #accessSettings(): AccessSettings {
    return {
      public: this.#access.public,
      allow: [...this.#access.allow],
      deny: [...this.#access.deny],
    };
  }

  async #configAction(action: EthConfigAction): Promise<EthConfigResponse> {
    this.#env.verbose(`eth: handling eth_config_action ${action.tag}`);
    let saveSettings = false;
    let saveProviders = false;
    let notFound = false;
    switch (action.tag) {
      case "AddProvider": {
        const replaced = this.#env.providers.add(action.config);
        if (replaced) this.#health.release(replaced);
        saveProviders = true;
        break;
      }
      case "RemoveProvider":
        if (
          this.#env.providers.remove(
            action.chainId,
            action.provider,
            (c) => this.#health.release(c),
          )
        ) {
          saveProviders = true;
        } else {
          notFound = true;
        }
        break;
      case "SetPublic":
      case "SetPrivate":
        this.#access.public = action.tag === "SetPublic";
        saveSettings = true;
        break;
      case "AllowNode":
        this.#access.allow.add(action.node);
        saveSettings = true;
        break;
      case "UnallowNode":
        this.#access.allow.delete(action.node);
        saveSettings = true;
        break;
      case "DenyNode":
        this.#access.deny.add(action.node);
        saveSettings = true;
        break;
      case "UndenyNode":
        this.#access.deny.delete(action.node);
        saveSettings = true;
        break;
      case "SetProviders": {
        const old = this.#env.providers;
        this.#env.providers = ProviderTable.from(action.configs);
        for (const c of old.connections()) this.#health.release(c);
        saveProviders = true;
        break;
      }
      case "GetProviders":
        return { Providers: this.#env.providers.toSavedConfigs() };
      case "GetAccessSettings":
        return { AccessSettings: this.#accessSettings() };
      case "GetState":
        return { State: this.#state() };
    }
    const home = this.#env.ctx.home;
    if (saveSettings) {
      try {
        await Deno.writeTextFile(
          `${home}/${ACCESS_SETTINGS_FILE}`,
          accessSettingsText(this.#accessSettings()),
        );
        this.#env.verbose("eth: saved new access settings");
      } catch { /* as Hyperdrive: unsaved, still in effect */ }
    }
    if (saveProviders) {
      try {
        await Deno.writeTextFile(
          `${home}/${PROVIDERS_FILE}`,
          savedConfigsText(this.#env.providers.toSavedConfigs()),
        );
        this.#env.verbose("eth: saved new provider settings");
      } catch { /* as above */ }
    }
    return notFound ? "ProviderNotFound" : "Ok";
  }

  #state() {
    const active_subscriptions: Record<string, Record<string, string | null>> = {};
    for (const [key, entry] of this.#subs) {
      const m: Record<string, string | null> = {};
      for (const [id, sub] of entry.subs) {
        m[`${id}`] = sub.kind === "local" ? null : sub.providerNode;
      }
      active_subscriptions[key] = m;
    }
    return { active_subscriptions, outstanding_requests: [...this.#env.channels.keys()] };
  }

  shutdown(): void {
    this.#env.stop();
    this.#queues.clear();
    this.#subs.clear();
  }
}

type Built =
  | {
    kind: "local";
    rpcSub: RpcSubscription;
    start(subId: bigint, target: Address, rsvp: Address | undefined): LocalSub;
  }
  | { kind: "remote"; node: string; remoteSubId: bigint };

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

/**
 * eth:distro:sys. Throws (before boot) what Hyperdrive's main.rs refuses: --rpc together with
 * --rpc-config, or an --rpc-config path that does not exist.
 */
export function createEthModule(opts: EthModuleOptions = {}): RuntimeModule {
  if (opts.rpc !== undefined && opts.rpcConfig !== undefined) {
    throw new Error(
      "Cannot use both --rpc and --rpc-config flags simultaneously. Please use either --rpc " +
        "for a single RPC URL or --rpc-config for multiple URLs and/or advanced configs " +
        "(e.g., auth), but not both.",
    );
  }
  let rpcConfig = opts.rpcConfig;
  if (rpcConfig !== undefined) {
    try {
      rpcConfig = Deno.realPathSync(rpcConfig);
    } catch {
      throw new Error(`specified rpc-config path ${rpcConfig} not found`);
    }
  }
  return new EthModule({ ...opts, rpcConfig });
}
