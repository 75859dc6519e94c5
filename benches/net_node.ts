// A bench-sized stand-in kernel around one net module: routes what net puts in
// the loop, answers requests to "echo:bench:sys" locally, and resolves
// responses to requests sent with `call` (no polling, so timings are real).

import {
  type KernelMessage,
  NET_PROCESS_ID,
  parseAddress,
  processIdEquals,
  randomU64,
} from "../wire/core.ts";
import { createNetModule, type NetModule, type NetModuleOptions } from "../net/mod.ts";

export class BenchNode {
  readonly module: NetModule;
  readonly #pending = new Map<bigint, (km: KernelMessage) => void>();
  readonly #failed = new Map<bigint, (e: Error) => void>();

  constructor(readonly our: string, opts: Omit<NetModuleOptions, "our">) {
    this.module = createNetModule({ our, ...opts });
  }

  async start(): Promise<void> {
    await this.module.start({
      our: this.our,
      home: "/nonexistent",
      sendToLoop: (km) => this.#route(km),
      sendErrorToLoop: (err) => this.#failed.get(err.id)?.(new Error(err.error.kind)),
      print: () => {},
      hasCapability: () => false,
      grantCapabilities: () => {},
      dropCapabilities: () => {},
      newMessageId: randomU64,
    });
  }

  #route(km: KernelMessage): void {
    if (km.target.node !== this.our || processIdEquals(km.target.process, NET_PROCESS_ID)) {
      this.module.handleMessage(km);
      return;
    }
    if (km.message.tag === "response") {
      this.#failed.delete(km.id);
      this.#pending.get(km.id)?.(km);
      this.#pending.delete(km.id);
      return;
    }
    // echo:bench:sys answers with the request body (never the blob: bulk goes one way)
    this.module.handleMessage({
      id: km.id,
      source: km.target,
      target: km.rsvp ?? km.source,
      message: {
        tag: "response",
        val: [{
          inherit: false,
          body: km.message.val.body,
          metadata: undefined,
          capabilities: [],
        }, undefined],
      },
    });
  }

  /** Request `to` (an address string) and resolve with the response. */
  call(to: string, body: Uint8Array, blob?: Uint8Array): Promise<KernelMessage> {
    const id = randomU64();
    const done = new Promise<KernelMessage>((resolve, reject) => {
      this.#pending.set(id, resolve);
      this.#failed.set(id, reject);
    });
    this.module.handleMessage({
      id,
      source: parseAddress(`${this.our}@app:bench:sys`),
      target: parseAddress(to),
      message: {
        tag: "request",
        val: { inherit: false, expectsResponse: 30n, body, metadata: undefined, capabilities: [] },
      },
      lazyLoadBlob: blob ? { bytes: blob } : undefined,
    });
    return done;
  }

  shutdown(): Promise<void> {
    return this.module.shutdown();
  }
}
