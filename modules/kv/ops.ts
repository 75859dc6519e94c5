// The requests a module channel takes (a Get, and a Set or Delete outside a transaction),
// run on the stores: one function, whether kv:distro:sys runs them (through the stores on
// kv's Worker, or on its own thread) or kv's Worker runs them for a channel, so a request
// is answered the same either way.

import { type KvAction, KvFailure, type KvResponse } from "../../wire/kv.ts";
import type { Answer } from "../shared/runtime.ts";
import type { StoreOps } from "./stores.ts";
import { valueTooBig } from "./protocol.ts";

export type DirectAction = Extract<KvAction, { tag: "Get" | "Set" | "Delete" }>;

/**
 * Runs `action` (a Set or Delete outside a transaction, or a Get) on database `dbKey`.
 * `hold(n)` takes bytes from the in-flight budget (it throws to refuse) and `adopt(n)`
 * hands over bytes taken elsewhere; the caller gives them back when the answer is out.
 */
export async function directOp(
  stores: StoreOps,
  dbKey: string,
  action: DirectAction,
  blob: Uint8Array | undefined,
  maxValueBytes: number,
  hold: (n: number) => void,
  adopt: (n: number) => void,
): Promise<Answer<KvResponse>> {
  switch (action.tag) {
    case "Get": {
      const value = await stores.get(dbKey, action.key, hold, adopt);
      if (value === undefined) throw new KvFailure("KeyNotFound");
      return { response: { Get: action.key }, blob: value };
    }
    case "Delete":
      await stores.commit(dbKey, [{ key: action.key }]);
      return { response: "Ok" };
    case "Set": {
      if (!blob || blob.length > maxValueBytes) {
        await stores.open(dbKey, false); // NoDb comes first
        if (!blob) throw new KvFailure("MalformedRequest");
        throw valueTooBig(blob.length, maxValueBytes);
      }
      hold(blob.length);
      await stores.commit(dbKey, [{ key: action.key, value: blob }]);
      return { response: "Ok" };
    }
  }
}
