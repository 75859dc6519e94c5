// Requests (EthAction::Request): answered by the first provider of the chain that can, URL
// providers then node providers (relayed to their eth modules), skipping offline ones and
// methods that failed on them; an answer ending in an RPC error is tried once more after a
// pause; successful URL answers are reused for an identical request briefly.

import type { Address, KernelMessage } from "../../wire/core.ts";
import {
  encodeEth,
  ETH_PROCESS_ID,
  type EthAction,
  ethActionToJson,
  type EthError,
  type EthResponse,
  parseEthResponse,
  serdeValue,
} from "../../wire/eth.ts";
import { decodeUtf8Strict } from "../../wire/json.ts";
import { describe, type EthEnv } from "./env.ts";
import type { ProviderHealth } from "./health.ts";
import type { NodeProvider } from "./providers.ts";
import type { RpcConnection, RpcReply } from "./rpc.ts";
import type { Deadline, Inbox } from "./timers.ts";

/** The JSON-RPC methods eth:distro:sys passes on (Hyperdrive's valid_method). */
export const METHODS: ReadonlySet<string> = new Set([
  "eth_getBalance",
  "eth_sendRawTransaction",
  "eth_call",
  "eth_chainId",
  "eth_getTransactionReceipt",
  "eth_getTransactionCount",
  "eth_estimateGas",
  "eth_blockNumber",
  "eth_getBlockByHash",
  "eth_getBlockByNumber",
  "eth_getTransactionByHash",
  "eth_getCode",
  "eth_getStorageAt",
  "eth_gasPrice",
  "eth_accounts",
  "eth_hashrate",
  "eth_getLogs",
  "eth_subscribe",
  "eth_unsubscribe",
]);

export class Requests {
  readonly #env: EthEnv;
  readonly #health: ProviderHealth;
  /** request JSON -> a successful URL-provider answer and when it came */
  readonly #cache = new Map<string, { response: EthResponse; at: number }>();

  constructor(env: EthEnv, health: ProviderHealth) {
    this.#env = env;
    this.#health = health;
  }

  request(km: KernelMessage, action: Extract<EthAction, { tag: "Request" }>, timeoutMs: number) {
    const inbox = this.#env.openChannel(km.id);
    void (async () => {
      try {
        let res = await this.#env.within(
          timeoutMs,
          (dl) => this.#fulfill(km.id, action, inbox, dl),
        );
        if (res !== undefined && typeof res === "object" && "Err" in res && isRpcError(res.Err)) {
          // once more after a pause, in case the provider was rate limiting
          await this.#env.sleep(this.#env.t.rpcErrorRetryMs);
          if (this.#env.down) return;
          res = await this.#env.within(timeoutMs, (dl) => this.#fulfill(km.id, action, inbox, dl));
        }
        if (this.#env.down) return;
        if (res === undefined) this.#env.respond(km.id, km.source, { Err: "RpcTimeout" });
        else this.#env.respond(km.id, km.rsvp ?? km.source, res);
      } catch (e) {
        this.#env.ctx.print(0, `eth: request failed: ${describe(e)}`);
        this.#env.respond(km.id, km.rsvp ?? km.source, { Err: "NoRpcForChain" });
      } finally {
        inbox.close();
      }
    })();
  }

  /** The request answered by the first provider that can: URL providers, then node providers. */
  async #fulfill(
    kmId: bigint,
    action: Extract<EthAction, { tag: "Request" }>,
    inbox: Inbox,
    dl: Deadline,
  ): Promise<EthResponse | undefined> {
    const key = decodeUtf8Strict(encodeEth(ethActionToJson(action)));
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      if (Date.now() - hit.at < this.#env.t.cacheMs) {
        this.#cache.set(key, hit);
        return hit.response;
      }
    }
    const { chainId, method, params } = action;
    if (!METHODS.has(method)) return { Err: { InvalidMethod: method } };
    const aps = this.#env.providers.get(chainId);
    if (!aps) return { Err: "NoRpcForChain" };

    let failures = 0;
    let lastRpcError: { value: unknown } | undefined;
    for (const u of [...aps.urls]) {
      if (!u.online) {
        this.#env.verbose(`eth: skipping offline url provider ${u.url}`);
        continue;
      }
      if (u.failures.shouldSkip(method, params, Date.now(), this.#env.t.sendRawTxBlockMs)) {
        this.#env.verbose(`eth: skipping url provider ${u.url} due to previous ${method} failure`);
        continue;
      }
      let conn: RpcConnection;
      try {
        conn = await this.#health.activate(u);
      } catch {
        if (dl.aborted) return undefined;
        this.#env.verbose(`eth: could not activate url provider ${u.url}`);
        continue;
      }
      if (dl.aborted) return undefined;
      let reply: RpcReply;
      try {
        // the request's own deadline fires first; this only bounds a hung socket
        reply = await conn.request(method, params, dl.at - Date.now() + 1_000);
      } catch (e) {
        if (dl.aborted) return undefined;
        failures++;
        this.#env.verbose(`eth: got error from url provider ${u.url}: ${e}`);
        this.#health.urlOffline(chainId, u);
        continue;
      }
      if (dl.aborted) return undefined;
      if ("error" in reply) {
        failures++;
        lastRpcError = { value: serdeValue(reply.error) };
        this.#env.verbose(
          `eth: got error from url provider ${u.url}: ${JSON.stringify(reply.error)}`,
        );
        if (!u.failures.shouldSkip(method, params, Date.now(), this.#env.t.sendRawTxBlockMs)) {
          u.failures.markFailed(method, params, Date.now());
          if (method !== "eth_sendRawTransaction") {
            this.#health.retryUrlMethod(chainId, u, method, params);
          }
        }
        continue;
      }
      u.failures.clear(method);
      const response: EthResponse = { Response: serdeValue(reply.result) };
      if (this.#cache.size >= 500) {
        // drop the oldest tenth
        let n = 50;
        for (const k of this.#cache.keys()) {
          if (n-- <= 0) break;
          this.#cache.delete(k);
        }
      }
      this.#cache.set(key, { response, at: Date.now() });
      return response;
    }

    const nodes = this.#env.providers.get(chainId)?.nodes;
    if (!nodes) return { Err: "NoRpcForChain" };
    for (const n of [...nodes]) {
      const name = n.hnsUpdate.name;
      if (!n.online || !n.usable) {
        this.#env.verbose(`eth: skipping offline/unusable node provider ${name}`);
        continue;
      }
      if (n.failures.shouldSkip(method, params, Date.now(), this.#env.t.sendRawTxBlockMs)) {
        this.#env.verbose(`eth: skipping node provider ${name} due to previous ${method} failure`);
        continue;
      }
      this.#env.verbose(`eth: attempting to fulfill via ${name}`);
      const response = await relay(this.#env, kmId, undefined, n, action, inbox, dl);
      if (dl.aborted) return undefined;
      if (typeof response === "object" && "Err" in response) {
        failures++;
        if (isRpcError(response.Err)) {
          lastRpcError = { value: response.Err.RpcError };
          if (!n.failures.shouldSkip(method, params, Date.now(), this.#env.t.sendRawTxBlockMs)) {
            n.failures.markFailed(method, params, Date.now());
            if (method !== "eth_sendRawTransaction") {
              this.#health.retryNodeMethod(chainId, n, method, params);
            }
          }
        } else {
          this.#health.nodeOffline(chainId, n);
        }
        continue;
      }
      n.failures.clear(method);
      return response;
    }
    if (failures === 0) return { Err: "NoRpcForChain" };
    this.#env.verbose(`eth: all providers failed for chain ${chainId}`);
    return lastRpcError ? { Err: { RpcError: lastRpcError.value } } : { Err: "NoRpcForChain" };
  }
}

/** Sends an EthAction to a node provider's eth module and waits for its EthResponse. */
export async function relay(
  env: EthEnv,
  kmId: bigint,
  rsvp: Address | undefined,
  n: NodeProvider,
  action: EthAction,
  inbox: Inbox,
  dl?: Deadline,
): Promise<EthResponse> {
  if (!n.usable || n.hnsUpdate.name === env.ctx.our) return { Err: "PermissionDenied" };
  inbox.drain();
  env.sendRequest(
    kmId,
    { node: n.hnsUpdate.name, process: ETH_PROCESS_ID },
    encodeEth(ethActionToJson(action)),
    { rsvp, expects: 60n },
  );
  const wait = dl
    ? Math.min(env.t.relayTimeoutMs, dl.at - Date.now() + 1_000)
    : env.t.relayTimeoutMs;
  const m = await inbox.next(wait);
  if (!m || "error" in m) return { Err: "RpcTimeout" };
  if (m.km.message.tag === "response") {
    try {
      return parseEthResponse(m.km.message.val[0].body);
    } catch { /* below */ }
  }
  // they sent a malformed response
  return { Err: "RpcMalformedResponse" };
}

function isRpcError(e: EthError): e is { RpcError: unknown } {
  return typeof e === "object" && "RpcError" in e;
}
