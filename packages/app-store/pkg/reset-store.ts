// reset-store:app-store:sys: chain:app-store:sys forgets its listings and indexes Hypermap
// again (Hyperdrive's script).

import { args, call, println, to } from "./lib/script.ts";

export function init(our: string): void {
  args();
  const r = call(to(our, "chain"), "Reset", 5);
  if (r === undefined) return println("reset: failed to get a response from app-store..!");
  if (r === "ResetOk") println("successfully reset app-store");
  else println("reset: unexpected response from app-store..!");
}
