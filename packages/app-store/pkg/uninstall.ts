// uninstall:app-store:sys <package:publisher>: uninstalls through main:app-store:sys
// (Hyperdrive's script).
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

function packageId(s: string): { package_name: string; publisher_node: string } | undefined {
  const parts = s.split(":");
  if (parts.length !== 2 || !/^[a-z0-9-]+$/.test(parts[0]) || !/^[a-z0-9.-]+$/.test(parts[1])) {
    return undefined;
  }
  return { package_name: parts[0], publisher_node: parts[1] };
}

export function init(our: string): void {
  const a = args();
  if (a === undefined) return println("uninstall: failed to get args!");
  const arg = a.trim();
  if (arg === "") {
    println("uninstall: 1 argument required, the package id of the app");
    println("example: uninstall app:publisher.os");
    return;
  }
  const package_id = packageId(arg);
  if (!package_id) {
    println("uninstall: invalid package id, make sure to include package name and publisher");
    println("example: app_name:publisher_name");
    return;
  }
  const r = call(to(our, "main"), { Uninstall: package_id }, 60) as
    | { UninstallResponse?: string }
    | undefined;
  if (r === undefined) return println("uninstall: failed to get a response from app-store..!");
  if (r.UninstallResponse === "Success") println(`successfully uninstalled package ${arg}`);
  else if (r.UninstallResponse === "Failure") println(`failed to uninstall package ${arg}!`);
  else println("uninstall: unexpected response from app-store..!");
}
