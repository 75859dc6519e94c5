// Booting nodes with eth:distro:sys for the eth tests, and `probe:ethtest:sys`: a tiny
// runtime module that sends eth requests as a local process would (not as the kernel,
// which skips capability checks) and records what eth pushes to it.

import { bootNode, type BootOptions, type HnsUpdate, type HyperdenoNode } from "../../main.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import {
  type Address,
  addressToString,
  type KernelMessage,
  parseAddress,
  parseProcessId,
  type WrappedSendError,
} from "../../wire/core.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { createEthModule, type EthModuleOptions, type EthTiming } from "../../modules/eth/mod.ts";
import { eventually } from "../kernel/helpers.ts";

export { eventually };

const enc = new TextEncoder();
const dec = new TextDecoder();

export const PROBE = parseProcessId("probe:ethtest:sys");

/** Timings short enough for tests (Hyperdrive's otherwise). */
export const FAST: Partial<EthTiming> = {
  urlHealthCheckMs: 300,
  nodeHealthCheckMs: 300,
  methodRetryMs: 300,
  reconnectDelayMs: 200,
  reconnectAttempts: 50,
  connectTimeoutMs: 2_000,
};

export interface Push {
  source: string;
  rsvp?: string;
  body: unknown;
}

export class Probe implements RuntimeModule {
  readonly processId = PROBE;
  readonly public = false;
  ctx!: RuntimeModuleContext;
  readonly pushes: Push[] = [];
  #waiting = new Map<bigint, { resolve(km: KernelMessage): void; reject(e: Error): void }>();

  start(ctx: RuntimeModuleContext) {
    this.ctx = ctx;
  }

  get address(): Address {
    return { node: this.ctx.our, process: PROBE };
  }

  handleMessage(km: KernelMessage) {
    if (km.message.tag === "response") {
      const w = this.#waiting.get(km.id);
      if (w) {
        this.#waiting.delete(km.id);
        w.resolve(km);
      }
      return;
    }
    const text = dec.decode(km.message.val.body);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* raw */ }
    this.pushes.push({
      source: addressToString(km.source),
      rsvp: km.rsvp && addressToString(km.rsvp),
      body,
    });
  }

  handleSendError(err: WrappedSendError) {
    const w = this.#waiting.get(err.id);
    if (!w) return;
    this.#waiting.delete(err.id);
    w.reject(new Error(`send error: ${err.error.kind}`));
  }

  /** A request from this process; resolves with the answer's JSON (or raw text). */
  async ask(
    target: string,
    body: unknown,
    o: { expects?: number; waitMs?: number } = {},
  ): Promise<unknown> {
    const km = await this.askRaw(target, body, o);
    if (km.message.tag !== "response") throw new Error("not a response");
    const text = dec.decode(km.message.val[0].body);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  askRaw(
    target: string,
    body: unknown,
    o: { expects?: number; waitMs?: number } = {},
  ): Promise<KernelMessage> {
    const id = this.ctx.newMessageId();
    const t = parseAddress(target.replace(/^our@/, `${this.ctx.our}@`));
    const expects = o.expects ?? 5;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error("probe: no answer in time"));
      }, o.waitMs ?? (expects + 2) * 1000);
      this.#waiting.set(id, {
        resolve: (km) => {
          clearTimeout(timer);
          resolve(km);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ctx.sendToLoop({
        id,
        source: this.address,
        target: t,
        message: {
          tag: "request",
          val: {
            inherit: false,
            expectsResponse: BigInt(expects),
            body: enc.encode(typeof body === "string" ? body : JSON.stringify(body)),
            metadata: undefined,
            capabilities: [],
          },
        },
      });
    });
  }

  /** Waits until `n` pushes match `pred`; returns them. */
  async waitPushes(pred: (p: Push) => boolean, n = 1, ms = 15_000): Promise<Push[]> {
    return await eventually(() => {
      const got = this.pushes.filter(pred);
      return got.length >= n ? got : undefined;
    }, ms);
  }
}

export interface EthNode {
  node: HyperdenoNode;
  probe: Probe;
  prints: string[];
  /** node.request to our eth module (as the kernel: root authority), JSON in and out. */
  eth(body: unknown, timeoutSeconds?: number): Promise<unknown>;
  /** the same, to any address */
  ask(target: string, body: unknown, timeoutSeconds?: number): Promise<unknown>;
}

export async function bootEthNode(
  home: string,
  name: string,
  eth: EthModuleOptions,
  net: Pick<BootOptions, "pki" | "tcpPort"> = {},
): Promise<EthNode> {
  const prints: string[] = [];
  const probe = new Probe();
  const node = await bootNode({
    home,
    name,
    verbosity: 2,
    onPrint: (_l, t) => void prints.push(t),
    httpPort: false,
    tcpPort: net.tcpPort ?? 0,
    wsPort: false,
    pki: net.pki,
    modules: [createEthModule({ ...eth, timing: { ...FAST, ...eth.timing } }), probe],
  });
  const ask = async (target: string, body: unknown, timeoutSeconds = 10) => {
    const r = await node.request(
      target,
      typeof body === "string" ? body : JSON.stringify(body),
      { timeoutSeconds },
    );
    const text = dec.decode(r.body);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  return {
    node,
    probe,
    prints,
    ask,
    eth: (body, timeoutSeconds) => ask("our@eth:distro:sys", body, timeoutSeconds),
  };
}

/** Teach a running node another node's PKI record (NetAction::HnsUpdate). */
export async function teach(node: HyperdenoNode, peer: HnsUpdate): Promise<void> {
  await node.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update: peer }));
}

export function request(chainId: number, method: string, params: unknown) {
  return { Request: { chain_id: chainId, method, params } };
}

export async function withTempHome<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-eth-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
