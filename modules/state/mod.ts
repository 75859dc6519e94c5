// state:distro:sys: per-process persisted state (get-state / set-state /
// clear-state), StateAction/StateResponse JSON as Hyperdrive's lib/src/state.rs.
// SQLite with WAL and synchronous=FULL: an acknowledged SetState survives kill -9.

import { DatabaseSync } from "node:sqlite";
import {
  type KernelMessage,
  makeResponse,
  parseProcessId,
  processIdToString,
  STATE_PROCESS_ID,
  textDecoder,
  textEncoder,
} from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";

type StateAction =
  | { kind: "GetState"; processId: string }
  | { kind: "SetState"; processId: string }
  | { kind: "DeleteState"; processId: string }
  | { kind: "Backup" };

type StateError =
  | { BadBytes: { action: string } }
  | { BadRequest: { error: string } }
  | { BadJson: { error: string } }
  | { NotFound: { process_id: string } }
  | { IOError: { error: string } };

function parseAction(body: Uint8Array): StateAction | StateError {
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(body));
  } catch (e) {
    return { BadJson: { error: e instanceof Error ? e.message : String(e) } };
  }
  if (v === "Backup") return { kind: "Backup" };
  if (v && typeof v === "object" && Object.keys(v).length === 1) {
    const [kind, arg] = Object.entries(v)[0];
    if (
      (kind === "GetState" || kind === "SetState" || kind === "DeleteState") &&
      typeof arg === "string"
    ) {
      try {
        return { kind, processId: processIdToString(parseProcessId(arg)) };
      } catch (e) {
        return { BadRequest: { error: e instanceof Error ? e.message : String(e) } };
      }
    }
  }
  return { BadRequest: { error: `not a StateAction: ${JSON.stringify(v)}` } };
}

export function createStateModule(): RuntimeModule {
  let ctx: RuntimeModuleContext;
  let db: DatabaseSync;
  let get: ReturnType<DatabaseSync["prepare"]>;
  let put: ReturnType<DatabaseSync["prepare"]>;
  let del: ReturnType<DatabaseSync["prepare"]>;
  const self = { node: "", process: STATE_PROCESS_ID };

  const respond = (km: KernelMessage, body: unknown, bytes?: Uint8Array) => {
    if (km.message.tag !== "request" || km.message.val.expectsResponse === undefined) return;
    ctx.sendToLoop(
      makeResponse(
        km,
        self,
        textEncoder.encode(JSON.stringify(body)),
        bytes ? { bytes } : undefined,
      ),
    );
  };

  return {
    processId: STATE_PROCESS_ID,
    public: false,
    start(c) {
      ctx = c;
      self.node = c.our;
      db = new DatabaseSync(`${c.home}/state.sqlite`);
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      db.exec(
        "CREATE TABLE IF NOT EXISTS state (process_id TEXT PRIMARY KEY, bytes BLOB NOT NULL)",
      );
      get = db.prepare("SELECT bytes FROM state WHERE process_id = ?");
      put = db.prepare(
        "INSERT INTO state (process_id, bytes) VALUES (?, ?) " +
          "ON CONFLICT(process_id) DO UPDATE SET bytes = excluded.bytes",
      );
      del = db.prepare("DELETE FROM state WHERE process_id = ?");
    },
    handleMessage(km) {
      if (km.message.tag !== "request") return;
      // only this node's kernel speaks to state (it is never exposed to userspace)
      if (km.source.node !== ctx.our) return;
      const action = parseAction(km.message.val.body);
      if (!("kind" in action)) return respond(km, { Err: action });
      switch (action.kind) {
        case "GetState": {
          const row = get.get(action.processId) as { bytes: Uint8Array } | undefined;
          if (!row) return respond(km, { Err: { NotFound: { process_id: action.processId } } });
          return respond(km, "GetState", new Uint8Array(row.bytes));
        }
        case "SetState": {
          const blob = km.lazyLoadBlob;
          if (!blob) return respond(km, { Err: { BadBytes: { action: "SetState" } } });
          put.run(action.processId, blob.bytes);
          return respond(km, "SetState");
        }
        case "DeleteState":
          del.run(action.processId);
          return respond(km, "DeleteState");
        case "Backup":
          return respond(km, "Backup");
      }
    },
    shutdown() {
      db?.close();
    },
  };
}
