// What installs keep on disk: the node's .installs/ directory (staged packages, the
// previous pkg drive during a swap, grants waiting for their target's install) and the
// installed version's manifest; with the small file helpers they use.

import { isObject } from "../../wire/fields.ts";
import { driveDir, vfsRoot } from "../vfs_layout.ts";
import { readManifest } from "./manifest.ts";

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isFile;
  } catch {
    return false;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

export async function copyDir(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    if (e.isDirectory) await copyDir(src, dst);
    else if (e.isFile) await Deno.copyFile(src, dst);
  }
}

export function installsDir(home: string): string {
  return `${home}/.installs`;
}

export interface PendingGrant {
  /** the process the capability is for */
  target: string;
  cap: { issuer: string; params: string };
}

function pendingGrantsFile(home: string): string {
  return `${installsDir(home)}/pending-grants.json`;
}

export async function readPendingGrants(home: string): Promise<PendingGrant[]> {
  try {
    const v = JSON.parse(await Deno.readTextFile(pendingGrantsFile(home)));
    return Array.isArray(v)
      ? v.filter((w) =>
        isObject(w) && typeof w.target === "string" && isObject(w.cap) &&
        typeof w.cap.issuer === "string" && typeof w.cap.params === "string"
      )
      : [];
  } catch {
    return [];
  }
}

export async function writePendingGrants(home: string, list: PendingGrant[]): Promise<void> {
  await Deno.mkdir(installsDir(home), { recursive: true });
  const tmp = `${pendingGrantsFile(home)}.${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, JSON.stringify(list));
  await Deno.rename(tmp, pendingGrantsFile(home));
}

/** The process names in the installed version's manifest (none when not installed). */
export async function readOldManifest(
  home: string,
  pkg: { packageName: string; publisherNode: string },
): Promise<string[]> {
  try {
    const v = JSON.parse(
      await Deno.readTextFile(`${driveDir(vfsRoot(home), pkg, "pkg")}/manifest.json`),
    );
    return readManifest(v, "manifest.json").map((e) => e.process_name);
  } catch {
    return [];
  }
}
