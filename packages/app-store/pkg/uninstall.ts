// uninstall:app-store:sys <package:publisher>: uninstalls through main:app-store:sys
// (Hyperdrive's script).

import { args, call, packageId, println, to } from "./lib/script.ts";

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
