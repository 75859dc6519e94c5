// reset-store:app-store:sys: chain:app-store:sys forgets its listings and indexes Hypermap
// again (Hyperdrive's script).
// Self-contained, as every process module is.

import { printToTerminal, receive, sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Address {
  node: string;
  process: { processName: string; packageName: string; publisherNode: string };
}

function println(text: string): void {
  printToTerminal(0, text);
}

/** process_lib's await_next_message_body: the arguments the terminal sent. */
function args(): string | undefined {
  try {
    const [, message] = receive() as [Address, { tag: string; val: { body: Uint8Array } }];
    return message.tag === "request" ? dec.decode(message.val.body) : undefined;
  } catch {
    return undefined;
  }
}

function ourNode(our: string): string {
  return our.slice(0, our.indexOf("@"));
}

function to(our: string, processName: string): Address {
  return {
    node: ourNode(our),
    process: { processName, packageName: "app-store", publisherNode: "sys" },
  };
}

/** Sends JSON and awaits the answer's JSON; undefined when there was none. */
function call(target: Address, body: unknown, timeout: number): unknown {
  try {
    const [, m] = sendAndAwaitResponse(
      target,
      {
        inherit: false,
        expectsResponse: BigInt(timeout),
        body: enc.encode(JSON.stringify(body)),
        metadata: undefined,
        capabilities: [],
      },
      undefined,
    ) as [Address, { tag: string; val: [{ body: Uint8Array }] }];
    if (m.tag !== "response") return undefined;
    return JSON.parse(dec.decode(m.val[0].body));
  } catch {
    return undefined;
  }
}

export function init(our: string): void {
  args();
  const r = call(to(our, "chain"), "Reset", 5);
  if (r === undefined) return println("reset: failed to get a response from app-store..!");
  if (r === "ResetOk") println("successfully reset app-store");
  else println("reset: unexpected response from app-store..!");
}
