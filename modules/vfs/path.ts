// A request's vfs path, resolved (kernel/vfs_layout.ts) into the package and drive it
// lands in: the drive capabilities are checked on. Symlinks are refused separately
// by `assertNoSymlinks`, once the caller is authorized.

import { join } from "node:path";
import { type PackageId, packageIdToString, parsePackageId } from "../../wire/core.ts";
import { parseError, VfsFailure } from "../../wire/vfs.ts";
import { VfsPathError, vfsSegments } from "../../kernel/vfs_layout.ts";

export interface VfsPath {
  packageId: PackageId;
  /** "/<package_id>/<drive>": the form capabilities name. */
  drive: string;
  /** All segments from the vfs root, package first, `..` resolved. */
  segments: string[];
}

/**
 * Segments of a request path from the vfs root. Errors: MalformedRequest for a path
 * climbing above the root (Hyperdrive's answer), ParseError for an unsafe segment.
 */
export function resolveSegments(path: string): string[] {
  try {
    return vfsSegments(path);
  } catch (e) {
    if (!(e instanceof VfsPathError)) throw e;
    if (e.kind === "escape") throw new VfsFailure("MalformedRequest");
    throw parseError(e.message, path);
  }
}

/** Segments that name a drive: a valid package id, then a drive name. */
export function drivePath(segments: string[]): VfsPath | undefined {
  if (segments.length < 2) return undefined;
  let packageId: PackageId;
  try {
    packageId = parsePackageId(segments[0]);
  } catch {
    return undefined;
  }
  return { packageId, drive: `/${packageIdToString(packageId)}/${segments[1]}`, segments };
}

/** A request path that must name a drive; MalformedRequest otherwise (as Hyperdrive). */
export function parseVfsPath(path: string): VfsPath {
  const p = drivePath(resolveSegments(path));
  if (!p) throw new VfsFailure("MalformedRequest");
  return p;
}

/** Refuse if any existing component below the vfs root is a symlink. */
export async function assertNoSymlinks(
  vfsRoot: string,
  segments: string[],
  displayPath: string,
): Promise<void> {
  let p = vfsRoot;
  for (const seg of segments) {
    p = join(p, seg);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(p);
    } catch {
      return; // the rest does not exist yet, so it cannot be a link
    }
    if (info.isSymlink) throw parseError("symlinks are not followed in the vfs", displayPath);
  }
}
