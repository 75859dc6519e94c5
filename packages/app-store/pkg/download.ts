// download:app-store:sys <node> <package:publisher> <version hash>: asks
// downloads:app-store:sys to download that version from that node (Hyperdrive's script).
// Self-contained, as every process module is.

import { printToTerminal, receive, sendRequest } from "hyperware:process/standard@1.0.0";

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

function packageId(s: string): { package_name: string; publisher_node: string } | undefined {
  const parts = s.split(":");
  if (parts.length !== 2 || !/^[a-z0-9-]+$/.test(parts[0]) || !/^[a-z0-9.-]+$/.test(parts[1])) {
    return undefined;
  }
  return { package_name: parts[0], publisher_node: parts[1] };
}

export function init(our: string): void {
  const a = args();
  if (a === undefined) return println("download: failed to get args!");
  const parts = a.split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 3) {
    println(
      "download: 3 arguments required, the node id to download from, the package id of the app, and the version hash",
    );
    println(
      "example: download my-friend.os app:publisher.os f5d374ab50e66888a7c2332b22d0f909f2e3115040725cfab98dcae488916990",
    );
    return;
  }
  const [from, pkg, hash] = parts;
  const package_id = packageId(pkg);
  if (!package_id) {
    println("download: invalid package id, make sure to include package name and publisher");
    println("example: app_name:publisher_name");
    return;
  }
  try {
    sendRequest(
      to(our, "downloads"),
      {
        inherit: false,
        expectsResponse: undefined,
        body: enc.encode(JSON.stringify({
          LocalDownload: { package_id, download_from: from, desired_version_hash: hash },
        })),
        metadata: undefined,
        capabilities: [],
      },
      undefined,
      undefined,
    );
  } catch {
    return println("download: failed to send request to downloads:app-store!");
  }
  println(`download: request sent, started download from ${from}`);
}
