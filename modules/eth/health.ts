// Provider health: URL provider connections made on first use; providers marked offline
// after a transport failure and brought back by a health check; methods that answered an
// RPC error retried with a doubling pause until they work again.

import { authorizationHeader, encodeEth, ETH_PROCESS_ID, ethActionToJson } from "../../wire/eth.ts";
import type { ActiveProviders, NodeProvider, UrlProvider } from "./providers.ts";
import { connectRpc, type RpcConnection } from "./rpc.ts";
import type { EthEnv } from "./env.ts";

export class ProviderHealth {
  readonly #env: EthEnv;
  /** "url <url> <method>" / "node <name> <method>": method retries running */
  readonly #retries = new Set<string>();

  constructor(env: EthEnv) {
    this.#env = env;
  }

  /** The provider's connection, made on first use (Hyperdrive's activate_url_provider). */
  async activate(u: UrlProvider): Promise<RpcConnection> {
    if (u.conn) return u.conn;
    if (!u.connecting) {
      const headers: Record<string, string> = u.auth
        ? { Authorization: authorizationHeader(u.auth) }
        : {};
      u.connecting = connectRpc(u.url, headers, {
        connectTimeoutMs: this.#env.t.connectTimeoutMs,
        reconnectAttempts: this.#env.t.reconnectAttempts,
        reconnectDelayMs: this.#env.t.reconnectDelayMs,
        print: (v, t) => this.#env.ctx.print(v, t),
      }).then((c) => {
        if (this.#env.down) {
          c.close();
          throw new Error("eth: stopped");
        }
        for (const old of this.#env.conns) if (old.done) this.#env.conns.delete(old);
        if (!c.done) this.#env.conns.add(c);
        u.conn = c;
        this.#env.verbose(`eth: activated url provider ${u.url}`);
        return c;
      }).finally(() => u.connecting = undefined);
    }
    return await u.connecting;
  }

  release(c: RpcConnection) {
    c.release();
  }

  /**
   * A transport failure: the provider is skipped until a health check gets an answer.
   * Hyperdrive starts a check only if the last one was over 30 s ago, which leaves a
   * provider failing again within 30 s of recovering offline for good; here a check runs
   * whenever none is running.
   */
  urlOffline(chainId: bigint, u: UrlProvider) {
    if (u.conn) this.release(u.conn);
    u.conn = undefined;
    u.online = false;
    if (!u.checking) {
      this.#urlHealthCheck(chainId, u);
      this.#env.verbose(`eth: spawned health check for offline provider ${u.url}`);
    }
  }

  #stillListed(chainId: bigint, p: UrlProvider | NodeProvider): boolean {
    const aps: ActiveProviders | undefined = this.#env.providers.get(chainId);
    return !!aps && ((aps.urls as unknown[]).includes(p) || (aps.nodes as unknown[]).includes(p));
  }

  #urlHealthCheck(chainId: bigint, u: UrlProvider) {
    u.checking = true;
    void (async () => {
      try {
        while (!this.#env.down) {
          await this.#env.sleep(this.#env.t.urlHealthCheckMs);
          if (this.#env.down || !this.#stillListed(chainId, u)) return;
          if (await this.#probeUrl(u, "eth_blockNumber", [])) {
            u.online = true;
            this.#env.verbose(`eth: provider ${u.url} is back online`);
            return;
          }
        }
      } finally {
        u.checking = false;
      }
    })();
  }

  /** One request to a URL provider; true if it got a result. */
  async #probeUrl(u: UrlProvider, method: string, params: unknown): Promise<boolean> {
    try {
      const conn = await this.activate(u);
      const r = await conn.request(method, params, this.#env.t.probeTimeoutMs);
      return "result" in r;
    } catch {
      if (u.conn) this.release(u.conn);
      u.conn = undefined;
      return false;
    }
  }

  /** Retries a method that failed on a URL provider, with a doubling pause, until it answers. */
  retryUrlMethod(chainId: bigint, u: UrlProvider, method: string, params: unknown) {
    const key = `url ${u.url} ${method}`;
    if (this.#retries.has(key)) return;
    this.#retries.add(key);
    this.#env.verbose(`eth: spawned method retry for ${method} on ${u.url}`);
    void (async () => {
      let backoff = this.#env.t.methodRetryMs;
      try {
        while (!this.#env.down) {
          await this.#env.sleep(backoff);
          backoff = Math.min(backoff * 2, this.#env.t.maxBackoffMs);
          if (this.#env.down || !this.#stillListed(chainId, u)) return;
          if (await this.#probeUrl(u, method, params)) {
            u.failures.clear(method);
            this.#env.verbose(`eth: ${method} now working again for ${u.url}`);
            return;
          }
        }
      } finally {
        this.#retries.delete(key);
      }
    })();
  }

  /** As urlOffline, for a node provider that failed other than with an RPC error. */
  nodeOffline(chainId: bigint, n: NodeProvider) {
    n.online = false;
    n.usable = false;
    if (!n.checking) {
      this.#nodeHealthCheck(chainId, n);
      this.#env.verbose(`eth: spawned health check for offline node provider ${n.hnsUpdate.name}`);
    }
  }

  /** Sends one EthAction::Request to a node provider; true if any Response came back in time. */
  async #probeNode(n: NodeProvider, chainId: bigint, method: string, params: unknown) {
    const id = this.#env.ctx.newMessageId();
    const inbox = this.#env.openChannel(id);
    try {
      this.#env.sendRequest(
        id,
        { node: n.hnsUpdate.name, process: ETH_PROCESS_ID },
        encodeEth(ethActionToJson({ tag: "Request", chainId, method, params })),
        { expects: BigInt(Math.ceil(this.#env.t.probeTimeoutMs / 1000)) },
      );
      const m = await inbox.next(this.#env.t.probeTimeoutMs);
      return !!m && "km" in m && m.km.message.tag === "response";
    } finally {
      inbox.close();
    }
  }

  #nodeHealthCheck(chainId: bigint, n: NodeProvider) {
    n.checking = true;
    void (async () => {
      let backoff = this.#env.t.nodeHealthCheckMs;
      try {
        while (!this.#env.down) {
          await this.#env.sleep(backoff);
          backoff = Math.min(backoff * 2, this.#env.t.maxBackoffMs);
          if (this.#env.down || !this.#stillListed(chainId, n)) return;
          if (await this.#probeNode(n, chainId, "eth_blockNumber", [])) {
            n.online = true;
            n.usable = true;
            this.#env.verbose(`eth: node provider ${n.hnsUpdate.name} is back online`);
            return;
          }
          this.#env.verbose(`eth: health check failed for node provider ${n.hnsUpdate.name}`);
        }
      } finally {
        n.checking = false;
      }
    })();
  }

  retryNodeMethod(chainId: bigint, n: NodeProvider, method: string, params: unknown) {
    const key = `node ${n.hnsUpdate.name} ${method}`;
    if (this.#retries.has(key)) return;
    this.#retries.add(key);
    this.#env.verbose(`eth: spawned method retry for ${method} on node ${n.hnsUpdate.name}`);
    void (async () => {
      let backoff = this.#env.t.methodRetryMs;
      try {
        while (!this.#env.down) {
          await this.#env.sleep(backoff);
          backoff = Math.min(backoff * 2, this.#env.t.maxBackoffMs);
          if (this.#env.down || !this.#stillListed(chainId, n)) return;
          if (await this.#probeNode(n, chainId, method, params)) {
            n.failures.clear(method);
            this.#env.verbose(`eth: ${method} now working again for node ${n.hnsUpdate.name}`);
            return;
          }
        }
      } finally {
        this.#retries.delete(key);
      }
    })();
  }
}
