// What the parts of eth:distro:sys share: Hyperdrive's timings and the boot options, and
// one EthEnv holding the module's common state (the kernel's context, the provider table,
// response channels, tracked timers, open connections, the shutdown flag) with the
// plumbing every part uses to send, wait and print.

import type { Address } from "../../wire/core.ts";
import {
  encodeEth,
  ETH_PROCESS_ID,
  type EthConfigResponse,
  type EthResponse,
  type EthSubResult,
} from "../../wire/eth.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";
import { ProviderTable } from "./providers.ts";
import type { RpcConnection } from "./rpc.ts";
import { type ChannelMsg, type Deadline, Inbox, type Timer, Timers } from "./timers.ts";

/** Hyperdrive's timings; tests shorten some. */
export interface EthTiming {
  /** A successful URL-provider answer is reused for the identical request this long. */
  cacheMs: number;
  /** Wait before the one retry of a request that ended in an RPC error. */
  rpcErrorRetryMs: number;
  /** A request's deadline when its expects_response is unset. */
  defaultRequestTimeoutMs: number;
  /** How long a relay waits for a node provider's answer. */
  relayTimeoutMs: number;
  /** How long setting up a subscription may take. */
  subscribeTimeoutMs: number;
  /** Opening a ws(s) provider connection. */
  connectTimeoutMs: number;
  /** Reconnecting a dropped ws(s) connection that carries subscriptions. */
  reconnectAttempts: number;
  /** Between two reconnect attempts. */
  reconnectDelayMs: number;
  /** Between checks that an offline URL provider answers again. */
  urlHealthCheckMs: number;
  /** First wait before checking an offline node provider again (doubles up to maxBackoffMs). */
  nodeHealthCheckMs: number;
  /** First wait before retrying a method that failed on a provider (doubles up to maxBackoffMs). */
  methodRetryMs: number;
  /** The longest wait the doubling backoffs reach. */
  maxBackoffMs: number;
  /** A provider whose eth_sendRawTransaction failed is skipped for it this long. */
  sendRawTxBlockMs: number;
  /** Timeout of one health-check or method-retry probe. */
  probeTimeoutMs: number;
  /** Keepalive interval of a subscription relayed through a node provider. */
  keepaliveMs: number;
  /** A relayed subscription with no update this long is considered dead. */
  remoteSubIdleMs: number;
  /** Minimum spacing of handled messages from one remote node. */
  remoteRequestDelayMs: number;
  /** A remote node's queue is dropped after this long without messages. */
  remoteQueueIdleMs: number;
  /** Messages waiting per remote node before RateLimited. */
  remoteQueueCapacity: number;
}

export const HYPERDRIVE_TIMING: Readonly<EthTiming> = {
  cacheMs: 1_000,
  rpcErrorRetryMs: 1_000,
  defaultRequestTimeoutMs: 60_000,
  relayTimeoutMs: 30_000,
  subscribeTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  reconnectAttempts: 10,
  reconnectDelayMs: 3_000,
  urlHealthCheckMs: 120_000,
  nodeHealthCheckMs: 60_000,
  methodRetryMs: 60_000,
  maxBackoffMs: 3_600_000,
  sendRawTxBlockMs: 3_600_000,
  probeTimeoutMs: 10_000,
  keepaliveMs: 30_000,
  remoteSubIdleMs: 2 * 3_600_000,
  remoteRequestDelayMs: 200,
  remoteQueueIdleMs: 5_000,
  remoteQueueCapacity: 100,
};

/** How eth:distro:sys is set up at boot (the CLI's --rpc, --rpc-config and fake-node flags). */
export interface EthModuleOptions {
  /** --rpc: an RPC URL (ws(s); http(s) serves requests only) added first for the node's chain. */
  rpc?: string;
  /** --rpc-config: a JSON file listing `{"url", "auth"?}`, the first entry first. */
  rpcConfig?: string;
  /**
   * Hyperdrive's simulation build (kit's fake nodes): --rpc/--rpc-config go to chain 31337,
   * and ws://localhost:<fakechainPort, default 8545> is put first for it (not saved).
   */
  simulation?: boolean;
  /** --fakechain-port (with simulation). */
  fakechainPort?: number;
  /**
   * Tell net the node providers' HnsUpdate records at start, as Hyperdrive's kernel does at
   * boot. Default true.
   */
  bootstrapPki?: boolean;
  /** Hyperdrive's timings unless overridden (tests). */
  timing?: Partial<EthTiming>;
}

/** What eth:distro:sys answers a request with. */
export type Out = EthResponse | EthConfigResponse;

/** The state the module's parts share, and how they send, wait and print. */
export class EthEnv {
  readonly t: EthTiming;
  /** Set by start(). */
  ctx!: RuntimeModuleContext;
  /** Our eth module's address (set by start()): the source of what eth sends. */
  self!: Address;
  /** Set by stop(): nothing more is sent, background work ends. */
  down = false;
  providers: ProviderTable = new ProviderTable();
  /** message id -> who waits for an answer or send error to it (Hyperdrive's response_channels) */
  readonly channels: Map<bigint, (m: ChannelMsg) => void> = new Map();
  readonly timers: Timers = new Timers();
  /** Open ws(s)/http(s) provider connections, closed at shutdown. */
  readonly conns: Set<RpcConnection> = new Set();

  constructor(t: EthTiming) {
    this.t = t;
  }

  start(ctx: RuntimeModuleContext): void {
    this.ctx = ctx;
    this.self = { node: ctx.our, process: ETH_PROCESS_ID };
  }

  verbose(text: string): void {
    this.ctx.print(2, text);
  }

  /** A Response from eth:distro:sys (Hyperdrive's kernel_message with req = false). */
  respond(id: bigint, target: Address, body: Out | EthSubResult, rsvp?: Address): void {
    if (this.down) return;
    this.ctx.sendToLoop({
      id,
      source: this.self,
      target,
      rsvp,
      message: {
        tag: "response",
        val: [
          { inherit: false, body: encodeEth(body), metadata: undefined, capabilities: [] },
          undefined,
        ],
      },
    });
  }

  sendRequest(
    id: bigint,
    target: Address,
    body: Uint8Array,
    o: { rsvp?: Address; expects?: bigint },
  ): void {
    if (this.down) return;
    this.ctx.sendToLoop({
      id,
      source: this.self,
      target,
      rsvp: o.rsvp,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: o.expects,
          body,
          metadata: undefined,
          capabilities: [],
        },
      },
    });
  }

  openChannel(id: bigint): Inbox {
    const inbox: Inbox = new Inbox(this.timers, () => {
      if (this.channels.get(id) === inbox.push) this.channels.delete(id);
    });
    this.channels.set(id, inbox.push);
    return inbox;
  }

  after(ms: number, f: () => void): Timer {
    return this.timers.after(ms, f);
  }

  cancel(h: Timer | undefined): void {
    this.timers.cancel(h);
  }

  sleep(ms: number): Promise<void> {
    return this.timers.sleep(ms);
  }

  within<T>(ms: number, f: (dl: Deadline) => Promise<T>): Promise<T | undefined> {
    return this.timers.within(ms, f);
  }

  /** Shutdown: timers cancelled, connections closed, channels forgotten. */
  stop(): void {
    this.down = true;
    this.timers.stop();
    for (const c of this.conns) c.close();
    this.conns.clear();
    this.channels.clear();
  }
}

export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
