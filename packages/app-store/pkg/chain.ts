// chain:app-store:sys (placeholder until Hypermap indexing lands): answers the chain API
// with no listings.

import { printToTerminal, receive, sendResponse } from "hyperware:process/standard@1.0.0";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function init(_our: string): void {
  for (;;) {
    let message: { tag: string; val: { expectsResponse?: bigint; body: Uint8Array } };
    try {
      [, message] = receive() as [unknown, typeof message];
    } catch {
      continue;
    }
    if (message.tag !== "request" || message.val.expectsResponse === undefined) continue;
    let v: unknown;
    try {
      v = JSON.parse(dec.decode(message.val.body));
    } catch {
      continue;
    }
    const tag = typeof v === "string" ? v : Object.keys(v as object)[0];
    const answer = tag === "GetApp"
      ? { GetApp: null }
      : tag === "GetApps"
      ? { GetApps: [] }
      : tag === "GetOurApps"
      ? { GetOurApps: [] }
      : tag === "StartAutoUpdate"
      ? "AutoUpdateStarted"
      : tag === "StopAutoUpdate"
      ? "AutoUpdateStopped"
      : tag === "Reset"
      ? "ResetOk"
      : { Err: "NoPackage" };
    printToTerminal(2, `chain: ${tag}`);
    sendResponse(
      {
        inherit: false,
        body: enc.encode(JSON.stringify(answer)),
        metadata: undefined,
        capabilities: [],
      },
      undefined,
    );
  }
}
