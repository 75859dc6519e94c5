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
//
// The parts (README): request.ts, health.ts, subscriptions.ts and config_actions.ts do the
// work; they share state only through env.ts's EthEnv.

import {
  type Address,
  addressToString,
  type Capability,
  type KernelMessage,
  NET_PROCESS_ID,
  type WrappedSendError,
} from "../../wire/core.ts";
import {
  encodeEth,
  ETH_PROCESS_ID,
  ETH_ROOT_CAP_PARAMS,
  type EthAction,
  EthFailure,
  type IncomingReq,
  parseIncomingReq,
  type ProviderConfig,
} from "../../wire/eth.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { type Answer, isKernel, type RequestHandler, serve } from "../shared/runtime.ts";
import { accessSettingsText, loadAccessSettings, loadProviderConfigs } from "./config.ts";
import { ProviderTable } from "./providers.ts";
import type { Timer } from "./timers.ts";
import { ConfigActions } from "./config_actions.ts";
import { ProviderHealth } from "./health.ts";
import { METHODS, Requests } from "./request.ts";
import { Subscriptions } from "./subscriptions.ts";
import { EthEnv, type EthModuleOptions, HYPERDRIVE_TIMING, type Out } from "./env.ts";

export { ETH_PROCESS_ID, METHODS };
export { type EthModuleOptions, type EthTiming, HYPERDRIVE_TIMING } from "./env.ts";

/** Raised by check(): an EthConfigAction from a source without authority. */
class ConfigDenied extends Error {}

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
  readonly #subscriptions: Subscriptions;
  readonly #config: ConfigActions;
  readonly #opts: EthModuleOptions;
  #rootCap!: Capability;
  #queues = new Map<string, NodeQueue>();

  constructor(opts: EthModuleOptions) {
    this.#opts = opts;
    this.#env = new EthEnv({ ...HYPERDRIVE_TIMING, ...opts.timing });
    this.#health = new ProviderHealth(this.#env);
    this.#requests = new Requests(this.#env, this.#health);
    this.#subscriptions = new Subscriptions(this.#env, this.#health);
    this.#config = new ConfigActions(this.#env, this.#health, this.#subscriptions);
  }

  async start(ctx: RuntimeModuleContext): Promise<void> {
    this.#env.start(ctx);
    this.self = this.#env.self;
    this.#rootCap = { issuer: this.self, params: ETH_ROOT_CAP_PARAMS };
    const access = await loadAccessSettings(ctx.home);
    this.#config.setAccess(access);
    this.#env.verbose(
      `eth: access settings loaded: ${accessSettingsText(this.#config.accessSettings())}`,
    );
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
    this.#subscriptions.closeAllOf(err.error.target);
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
      if (!this.#config.admits(node)) {
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
        return this.#config.act(incoming.action).then((response) => ({ response }));
      case "EthSubResult":
        this.#subscriptions.subResult(km, incoming.result);
        return undefined;
      case "SubKeepalive":
        this.#subscriptions.keepalive(km, incoming.subId);
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
        return this.#subscriptions.subscribe(km.id, km.source, km.rsvp, action);
      case "UnsubscribeLogs":
        return this.#subscriptions.unsubscribe(km, action.subId);
      case "Request":
        return this.#requests.request(km, action, timeoutMs);
    }
  }

  shutdown(): void {
    this.#env.stop();
    this.#queues.clear();
    this.#subscriptions.clear();
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
