// What the parts of net:distro:sys share (Hyperdrive's IdentityExt and the PKI of its
// NetData): our node and settings, the PKI, the kernel's context once started, and
// the background tasks (dials, handshakes, passthroughs) shutdown waits for.

import { type Address, NET_PROCESS_ID } from "../wire/core.ts";
import { type HnsUpdate, type Identity, identityFromHnsUpdate } from "../wire/net.ts";
import type { RuntimeModuleContext } from "../kernel/module.ts";
import type { LocalNode } from "./handshake.ts";

export interface NetSettings {
  /** Connect/handshake/routing timeout (Hyperdrive: 5 s). */
  timeoutMs: number;
  /** Indirect nodes retry unconnected routers this often. */
  routerRetryMs: number;
  /** Idle connections close after this long. */
  idleMs: number;
  /** Open peer connections kept before the least recently active is dropped. */
  maxPeers: number;
  /** Passthroughs held as a router (0 = not a router). */
  maxPassthroughs: number;
}

export class NetEnv {
  readonly local: LocalNode;
  readonly ourIdentity: Identity;
  readonly settings: NetSettings;
  /** net:distro:sys on our node: the source of what net itself sends. */
  readonly netAddress: Address;
  /** Node name -> Identity, from HnsUpdates (Hyperdrive's OnchainPKI). */
  readonly pki = new Map<string, Identity>();
  /** Set by start(); undefined before (inbound links wait on `started`). */
  ctx: RuntimeModuleContext | undefined;
  stopped = false;
  readonly started: Promise<void>;
  #resolveStarted!: () => void;
  readonly #tasks = new Set<Promise<unknown>>();

  constructor(local: LocalNode, ourIdentity: Identity, settings: NetSettings) {
    this.local = local;
    this.ourIdentity = ourIdentity;
    this.settings = settings;
    this.netAddress = { node: local.name, process: NET_PROCESS_ID };
    this.started = new Promise<void>((r) => (this.#resolveStarted = r));
  }

  start(ctx: RuntimeModuleContext): void {
    this.ctx = ctx;
    this.#resolveStarted();
  }

  /** Stop: what waits on `started` goes on, sees `stopped`, and closes what it holds. */
  stop(): void {
    this.stopped = true;
    this.#resolveStarted();
  }

  /** As Hyperdrive's ingest_log: a record replaces the name's previous one. */
  ingest(update: HnsUpdate): void {
    this.pki.set(update.name, identityFromHnsUpdate(update));
  }

  lookup = (name: string): Identity | undefined => this.pki.get(name);

  print(verbosity: number, text: string): void {
    this.ctx?.print(verbosity, text);
  }

  /** Run `p` in the background: a failure is printed, shutdown waits for it. */
  track(p: Promise<unknown>): void {
    const t = p.catch((e) => this.print(2, `net: ${(e as Error).message}`)).finally(() =>
      this.#tasks.delete(t)
    );
    this.#tasks.add(t);
  }

  /** Wait for every background task, including ones started while waiting. */
  async settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
