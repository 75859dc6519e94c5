// download:app-store:sys <node> <package:publisher> <version hash>: asks
// downloads:app-store:sys to download that version from that node (Hyperdrive's script).

import { sendRequest } from "hyperware:process/standard@1.0.0";
import { args, enc, packageId, println, to } from "./lib/script.ts";

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
