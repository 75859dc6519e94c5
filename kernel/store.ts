// Durable kernel state (the process map) in SQLite: WAL + synchronous=FULL,
// so an acknowledged write survives kill -9.

import { DatabaseSync } from "node:sqlite";
import type { CapabilityJson, OnExitJson } from "../wire/core.ts";

/** A process map entry as stored: Hyperdrive's PersistedProcess in serde JSON shape. */
export interface StoredProcessJson {
  wasm_bytes_handle: string;
  wit_version: number | null;
  on_exit: OnExitJson;
  /** (capability, signature) */
  capabilities: [CapabilityJson, number[]][];
  public: boolean;
}

export class KernelStore {
  private readonly db: DatabaseSync;
  private readonly putStmt;
  private readonly delStmt;

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS process_map (process_id TEXT PRIMARY KEY, entry TEXT NOT NULL)",
    );
    this.putStmt = this.db.prepare(
      "INSERT INTO process_map (process_id, entry) VALUES (?, ?) " +
        "ON CONFLICT(process_id) DO UPDATE SET entry = excluded.entry",
    );
    this.delStmt = this.db.prepare("DELETE FROM process_map WHERE process_id = ?");
  }

  /** Every stored entry, unchecked: the kernel reads each one (readStoredProcess). */
  loadProcessMap(): Map<string, unknown> {
    const rows = this.db.prepare("SELECT process_id, entry FROM process_map").all() as {
      process_id: string;
      entry: string;
    }[];
    return new Map(rows.map((r) => [r.process_id, JSON.parse(r.entry)]));
  }

  putProcess(processId: string, entry: StoredProcessJson): void {
    this.putStmt.run(processId, JSON.stringify(entry));
  }

  deleteProcess(processId: string): void {
    this.delStmt.run(processId);
  }

  close(): void {
    this.db.close();
  }
}
