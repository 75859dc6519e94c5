// What app-store:sys's terminal scripts share (install, uninstall, download, reset-store):
// their arguments, their answers printed, JSON requests to the app store's processes.
// Imported by relative path (kernel/process_host/module_graph.ts).

import { printToTerminal, receive, sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export interface Address {
  node: string;
  process: { processName: string; packageName: string; publisherNode: string };
}

export function println(text: string): void {
  printToTerminal(0, text);
}

/** process_lib's await_next_message_body: the arguments the terminal sent. */
export function args(): string | undefined {
  try {
    const [, message] = receive() as [Address, { tag: string; val: { body: Uint8Array } }];
    return message.tag === "request" ? dec.decode(message.val.body) : undefined;
  } catch {
    return undefined;
  }
}

export function ourNode(our: string): string {
  return our.slice(0, our.indexOf("@"));
}

export function to(our: string, processName: string): Address {
  return {
    node: ourNode(our),
    process: { processName, packageName: "app-store", publisherNode: "sys" },
  };
}

/** Sends JSON and awaits the answer's JSON; undefined when there was none. */
export function call(target: Address, body: unknown, timeout: number): unknown {
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

export function packageId(s: string): { package_name: string; publisher_node: string } | undefined {
  const parts = s.split(":");
  if (parts.length !== 2 || !/^[a-z0-9-]+$/.test(parts[0]) || !/^[a-z0-9.-]+$/.test(parts[1])) {
    return undefined;
  }
  return { package_name: parts[0], publisher_node: parts[1] };
}
