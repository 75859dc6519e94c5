// state:distro:sys: per-process persisted state (get-state / set-state / clear-state)
// for the kernel, with Hyperdrive's StateAction / StateResponse (wire/state.ts).
// SQLite with WAL and synchronous=FULL: an acknowledged SetState survives kill -9.
// Backup writes a consistent copy to <home>/kernel/backup/state.sqlite, where
// Hyperdrive puts its checkpoint.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type Address,
  type KernelMessage,
  processIdToString,
  STATE_PROCESS_ID,
} from "../../wire/core.ts";
import {
  encodeStateResponse,
  parseStateAction,
  type StateAction,
  type StateError,
  StateFailure,
  type StateResponse,
} from "../../wire/state.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import { type Answer, ioErrorMessage, type RequestHandler, serve } from "../shared/runtime.ts";

class NotKernel extends Error {}

class StateModule implements RuntimeModule, RequestHandler<StateAction, StateResponse> {
  readonly processId = STATE_PROCESS_ID;
  readonly public = false;
  readonly name = "state";
  readonly remote = false;
  readonly echoMetadata = false;
  self!: Address;
  #ctx!: RuntimeModuleContext;
  #home = "";
  #db!: DatabaseSync;
  #get!: StatementSync;
  #put!: StatementSync;
  #del!: StatementSync;

  start(ctx: RuntimeModuleContext): void {
    this.#ctx = ctx;
    this.#home = ctx.home;
    this.self = { node: ctx.our, process: STATE_PROCESS_ID };
    this.#db = new DatabaseSync(`${ctx.home}/state.sqlite`);
    this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    this.#db.exec(
      "CREATE TABLE IF NOT EXISTS state (process_id TEXT PRIMARY KEY, bytes BLOB NOT NULL)",
    );
    this.#get = this.#db.prepare("SELECT bytes FROM state WHERE process_id = ?");
    this.#put = this.#db.prepare(
      "INSERT INTO state (process_id, bytes) VALUES (?, ?) " +
        "ON CONFLICT(process_id) DO UPDATE SET bytes = excluded.bytes",
    );
    this.#del = this.#db.prepare("DELETE FROM state WHERE process_id = ?");
  }

  handleMessage(km: KernelMessage): void | Promise<void> {
    return serve(this.#ctx, this, km);
  }

  parse(km: KernelMessage): StateAction {
    // Hyperdrive: only the kernel and the terminal package (distro:sys, terminal:sys)
    const p = km.source.process;
    if ((p.packageName !== "distro" && p.packageName !== "terminal") || p.publisherNode !== "sys") {
      throw new NotKernel(
        `state: got request from ${
          processIdToString(p)
        }, but requests must come from kernel or terminal`,
      );
    }
    if (km.message.tag !== "request") throw new Error("not a request");
    return parseStateAction(km.message.val.body);
  }

  act(km: KernelMessage, action: StateAction): Answer<StateResponse> {
    switch (action.tag) {
      case "GetState": {
        const row = this.#get.get(action.processId) as { bytes: Uint8Array } | undefined;
        if (!row) throw new StateFailure({ NotFound: { process_id: action.processId } });
        return { response: "GetState", blob: new Uint8Array(row.bytes) };
      }
      case "SetState": {
        const blob = km.lazyLoadBlob;
        if (!blob) throw new StateFailure({ BadBytes: { action: "SetState" } });
        this.#put.run(action.processId, blob.bytes);
        return { response: "SetState" };
      }
      case "DeleteState":
        this.#del.run(action.processId);
        return { response: "DeleteState" };
      case "Backup":
        this.#backup();
        return { response: "Backup" };
    }
  }

  /** A consistent copy of every process's state, replacing the previous backup. */
  #backup(): void {
    const dir = `${this.#home}/kernel/backup`;
    const file = `${dir}/state.sqlite`;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      Deno.removeSync(file);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new StateFailure({ IOError: { error: ioErrorMessage(e) } });
      }
    }
    try {
      this.#db.prepare("VACUUM INTO ?").run(file);
    } catch (e) {
      throw new StateFailure({
        RocksDBError: { action: "BackupCheckpointCreate", error: ioErrorMessage(e) },
      });
    }
  }

  error(e: unknown): StateResponse | undefined {
    if (e instanceof NotKernel) {
      // printed and dropped, as Hyperdrive's state does
      this.#ctx.print(1, e.message);
      return undefined;
    }
    const error: StateError = e instanceof StateFailure
      ? e.error
      : { IOError: { error: ioErrorMessage(e) } };
    return { Err: error };
  }

  encode(r: StateResponse): Uint8Array {
    return encodeStateResponse(r);
  }

  shutdown(): void {
    this.#db?.close();
  }
}

export function createStateModule(): RuntimeModule {
  return new StateModule();
}
