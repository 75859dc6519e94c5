// A minimal stand-in for the kernel around one net module, for tests: routes
// what the module puts in the loop (remote-bound and net-bound messages back to
// the module, the rest to in-test "processes"), keeps request contexts by id as
// the kernel does, and records send errors and prints.

import {
  type Address,
  type Capability,
  capabilityKey,
  type KernelMessage,
  NET_PROCESS_ID,
  parseAddress,
  type ProcessId,
  processIdEquals,
  processIdToString,
  randomU64,
  type WrappedSendError,
} from "../../wire/core.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";
import {
  createNetModule,
  type HnsUpdate,
  type NetModule,
  type NetModuleOptions,
} from "../../net/mod.ts";

export interface Delivered {
  km: KernelMessage;
  /** for responses: the context the requester attached when it sent the request */
  context?: Uint8Array;
}

export class TestNode {
  readonly module: NetModule;
  readonly delivered: Delivered[] = [];
  readonly errors: WrappedSendError[] = [];
  readonly prints: string[] = [];
  readonly #contexts = new Map<bigint, Uint8Array | undefined>();
  readonly #caps = new Set<string>();
  /** processName -> handler for requests delivered to that local process */
  readonly handlers = new Map<string, (km: KernelMessage, node: TestNode) => void>();

  readonly ctx: RuntimeModuleContext;

  constructor(readonly our: string, opts: Omit<NetModuleOptions, "our">) {
    this.module = createNetModule({ our, ...opts });
    this.ctx = {
      our,
      home: "/nonexistent",
      sendToLoop: (km) => queueMicrotask(() => this.#route(km)),
      sendErrorToLoop: (err) => this.errors.push(err),
      print: (_v, text) => this.prints.push(text),
      hasCapability: (p: ProcessId, cap: Capability) =>
        this.#caps.has(`${processIdToString(p)}|${capabilityKey(cap)}`),
      grantCapabilities: (p, caps) => {
        for (const c of caps) this.#caps.add(`${processIdToString(p)}|${capabilityKey(c)}`);
      },
      dropCapabilities: (p, caps) => {
        for (const c of caps) this.#caps.delete(`${processIdToString(p)}|${capabilityKey(c)}`);
      },
      newMessageId: () => randomU64(),
    };
  }

  get identity(): HnsUpdate {
    return this.module.identity;
  }

  async start(): Promise<void> {
    await this.module.start(this.ctx);
  }

  #route(km: KernelMessage): void {
    if (km.target.node !== this.our || processIdEquals(km.target.process, NET_PROCESS_ID)) {
      this.module.handleMessage(km);
      return;
    }
    if (km.message.tag === "response") {
      const context = this.#contexts.get(km.id);
      this.#contexts.delete(km.id);
      this.delivered.push({ km, context });
      return;
    }
    this.delivered.push({ km });
    this.handlers.get(km.target.process.processName)?.(km, this);
  }

  /** A local process sends a request (the kernel would stamp it and keep its context). */
  request(
    from: string,
    to: string,
    body: Uint8Array,
    opts: { context?: Uint8Array; blob?: Uint8Array; expectsResponse?: bigint } = {},
  ): bigint {
    const id = randomU64();
    this.#contexts.set(id, opts.context);
    const km: KernelMessage = {
      id,
      source: parseAddress(`${this.our}@${from}`),
      target: parseAddress(to),
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: opts.expectsResponse ?? 5n,
          body,
          metadata: undefined,
          capabilities: [],
        },
      },
    };
    if (opts.blob) km.lazyLoadBlob = { bytes: opts.blob };
    this.#route(km);
    return id;
  }

  /** Answer `km` as its target process would. */
  respond(km: KernelMessage, body: Uint8Array, blob?: Uint8Array): void {
    this.#route({
      id: km.id,
      source: km.target,
      target: km.rsvp ?? km.source,
      message: {
        tag: "response",
        val: [{ inherit: false, body, metadata: undefined, capabilities: [] }, undefined],
      },
      lazyLoadBlob: blob ? { bytes: blob } : undefined,
    });
  }

  responseTo(id: bigint): Delivered | undefined {
    return this.delivered.find((d) => d.km.id === id && d.km.message.tag === "response");
  }

  errorFor(id: bigint): WrappedSendError | undefined {
    return this.errors.find((e) => e.id === id);
  }

  /** Install an echo process: answers each request with "echo:" + body, and its blob. */
  echo(processName = "echo"): void {
    this.handlers.set(processName, (km, node) => {
      if (km.message.tag !== "request") return;
      const body = new Uint8Array([...new TextEncoder().encode("echo:"), ...km.message.val.body]);
      node.respond(km, body, km.lazyLoadBlob?.bytes);
    });
  }

  shutdown(): Promise<void> {
    return this.module.shutdown();
  }
}

export function address(s: string): Address {
  return parseAddress(s);
}
