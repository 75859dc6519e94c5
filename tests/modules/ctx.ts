// A small RuntimeModuleContext for driving one runtime module directly: it records
// what the module sends and answers capability questions from a real cap set.

import {
  type Address,
  type Capability,
  capabilityKey,
  type KernelMessage,
  type LazyLoadBlob,
  parseAddress,
  type ProcessId,
  processIdToString,
  randomU64,
  textEncoder,
  type WrappedSendError,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";

export const OUR = "fake.os";

export class TestCtx implements RuntimeModuleContext {
  readonly our = OUR;
  readonly sent: KernelMessage[] = [];
  readonly prints: string[] = [];
  readonly caps = new Map<string, Map<string, Capability>>();
  #waiters: Array<() => void> = [];

  constructor(readonly home: string) {}

  sendToLoop(km: KernelMessage): void {
    this.sent.push(km);
    for (const w of this.#waiters.splice(0)) w();
  }
  sendErrorToLoop(_err: WrappedSendError): void {}
  print(_verbosity: number, text: string): void {
    this.prints.push(text);
  }
  hasCapability(process: ProcessId, cap: Capability): boolean {
    return this.caps.get(processIdToString(process))?.has(capabilityKey(cap)) ?? false;
  }
  grantCapabilities(process: ProcessId, caps: Capability[]): void {
    const k = processIdToString(process);
    const set = this.caps.get(k) ?? new Map();
    for (const c of caps) set.set(capabilityKey(c), c);
    this.caps.set(k, set);
  }
  dropCapabilities(process: ProcessId, caps: Capability[]): void {
    const set = this.caps.get(processIdToString(process));
    for (const c of caps) set?.delete(capabilityKey(c));
  }
  newMessageId(): bigint {
    return randomU64();
  }
  capsOf(process: ProcessId): Capability[] {
    return [...(this.caps.get(processIdToString(process))?.values() ?? [])];
  }
  /** Resolves at the next sendToLoop (or at once if `ready()` already holds). */
  async waitFor(ready: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error("timed out waiting for a module message");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((res) => {
        this.#waiters.push(res);
        timer = setTimeout(res, 50);
      });
      clearTimeout(timer);
    }
  }
}

export interface SendOpts {
  blob?: Uint8Array;
  expectsResponse?: boolean;
  metadata?: string;
  rsvp?: Address;
}

export function requestKm(
  from: string | Address,
  to: Address,
  body: Uint8Array | string | unknown,
  opts: SendOpts = {},
): KernelMessage {
  const bytes = body instanceof Uint8Array
    ? body
    : textEncoder.encode(typeof body === "string" ? body : JSON.stringify(body));
  const blob: LazyLoadBlob | undefined = opts.blob ? { bytes: opts.blob } : undefined;
  return {
    id: randomU64(),
    source: typeof from === "string" ? parseAddress(from) : from,
    target: to,
    rsvp: opts.rsvp,
    message: {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: opts.expectsResponse === false ? undefined : 5n,
        body: bytes,
        metadata: opts.metadata,
        capabilities: [],
      },
    },
    lazyLoadBlob: blob,
  };
}

export interface Reply {
  km: KernelMessage;
  json: unknown;
  body: Uint8Array;
  blob?: Uint8Array;
  metadata?: string;
}

/** Deliver one request and return the module's response to it (or undefined). */
export async function call(
  ctx: TestCtx,
  mod: RuntimeModule,
  km: KernelMessage,
): Promise<Reply | undefined> {
  const before = ctx.sent.length;
  await mod.handleMessage(km);
  const km2 = ctx.sent.slice(before).find((m) => m.id === km.id);
  if (!km2 || km2.message.tag !== "response") return undefined;
  const resp = km2.message.val[0];
  const text = new TextDecoder().decode(resp.body);
  return {
    km: km2,
    body: resp.body,
    json: text.length ? JSON.parse(text) : undefined,
    blob: km2.lazyLoadBlob?.bytes,
    metadata: resp.metadata,
  };
}

export function moduleAddress(processId: ProcessId): Address {
  return { node: OUR, process: processId };
}
