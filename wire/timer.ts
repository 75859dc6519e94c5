// timer:distro:sys's API (Hyperdrive lib/src/timer.rs): TimerAction as serde JSON,
// "Debug" | {"SetTimer": u64 millis}. The answer to SetTimer is an empty Response.

import { u64, variant } from "./fields.ts";
import { parseJsonBody } from "./json.ts";

export type TimerAction = { tag: "Debug" } | { tag: "SetTimer"; millis: bigint };

/** Body bytes -> TimerAction; throws on anything else. */
export function parseTimerAction(body: Uint8Array): TimerAction {
  const [tag, val] = variant(parseJsonBody(body));
  if (tag === "Debug" && val === null) return { tag };
  if (tag === "SetTimer") return { tag, millis: u64(val) };
  throw new Error(`not a TimerAction: ${tag}`);
}
