// install:app-store:sys <package:publisher> <version hash>: installs a downloaded version
// through main:app-store:sys (Hyperdrive's script).

import { args, call, packageId, println, to } from "./lib/script.ts";

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
