// state:distro:sys's API (Hyperdrive lib/src/state.rs): StateAction, StateResponse and
// StateError as serde JSON. Only the kernel (and the terminal package) talk to state.

import { parseProcessId, processIdToString } from "./core.ts";
import { variant } from "./fields.ts";
import { decodeUtf8Strict } from "./json.ts";

export type StateAction =
  | { tag: "GetState"; processId: string }
  | { tag: "SetState"; processId: string }
  | { tag: "DeleteState"; processId: string }
  | { tag: "Backup" };

export type StateError =
  | { RocksDBError: { action: string; error: string } }
  | { StartupError: { action: string } }
  | { BadBytes: { action: string } }
  | { BadRequest: { error: string } }
  | { BadJson: { error: string } }
  | { NotFound: { process_id: string } }
  | { IOError: { error: string } };

export type StateResponse = "GetState" | "SetState" | "DeleteState" | "Backup" | {
  Err: StateError;
};

/** A StateError raised while handling a request. */
export class StateFailure extends Error {
  constructor(readonly error: StateError) {
    super(JSON.stringify(error));
  }
}

/** Body bytes -> StateAction; a body that is not one throws BadJson, as serde fails. */
export function parseStateAction(body: Uint8Array): StateAction {
  try {
    const [tag, val] = variant(JSON.parse(decodeUtf8Strict(body)));
    if (tag === "Backup" && val === null) return { tag };
    if (
      (tag === "GetState" || tag === "SetState" || tag === "DeleteState") &&
      typeof val === "string"
    ) {
      return { tag, processId: processIdToString(parseProcessId(val)) };
    }
    throw new Error(`unknown variant ${tag}`);
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    throw new StateFailure({ BadJson: { error: `parse into StateAction failed: ${error}` } });
  }
}

export function encodeStateResponse(r: StateResponse): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}
