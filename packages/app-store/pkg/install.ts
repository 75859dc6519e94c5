// install:app-store:sys <package:publisher> <version hash>: installs a downloaded version
// through main:app-store:sys (Hyperdrive's script).
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
  if (a === undefined) return println("install: failed to get args!");
  const parts = a.split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 2) {
    println("install: 2 arguments required, the package id of the app and desired version_hash");
    println(
      "example: install app:publisher.os f5d374ab50e66888a7c2332b22d0f909f2e3115040725cfab98dcae488916990",
    );
    return;
  }
  const package_id = packageId(parts[0]);
  if (!package_id) {
    println("install: invalid package id, make sure to include package name and publisher");
    println("example: app_name:publisher_name");
    return;
  }
  // an install may transpile components: longer than Hyperdrive's 5 s
  const r = call(
    to(our, "main"),
    { Install: { package_id, version_hash: parts[1], metadata: null } },
    120,
  ) as { InstallResponse?: string } | undefined;
  if (r === undefined) return println("install: failed to get a response from app-store..!");
  if (r.InstallResponse === "Success") println(`successfully installed package ${parts[0]}`);
  else if (r.InstallResponse === "Failure") {
    println(`failed to install package ${parts[0]}`);
    println("make sure that the package has been downloaded!");
  } else println("install: unexpected response from app-store..!");
}
