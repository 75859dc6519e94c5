// VFS path resolution. A vfs path is "/<package_id>/<drive>/<rest...>", relative to
// <home>/vfs. Resolution is purely lexical and refuses anything that could leave the
// drive ("..", separators smuggled inside a segment); symlinks are refused separately
// by `assertNoSymlinks` once the caller is authorized.

import { join } from "node:path";
import { type PackageId, packageIdToString, parsePackageId } from "../../wire/core.ts";
import { parseError, VfsFailure } from "../../wire/vfs.ts";

export interface VfsPath {
  packageId: PackageId;
  /** Drive name, e.g. "pkg". */
  driveName: string;
  /** "/<package_id>/<drive>": the form capabilities name. */
  drive: string;
  /** Segments after the drive. */
  rest: string[];
  /** All segments from the vfs root, package first. */
  segments: string[];
}

// Percent-encoded "/", "\", "." and NUL: refused so no later decoding layer can turn a
// segment into a separator or a parent reference.
const ENCODED_SEPARATOR = /%(2f|5c|2e|00)/i;

/**
 * Split and check a request path. Errors: ParseError for `..`, backslashes, NUL or
 * encoded separators; MalformedRequest when there is no `<package_id>/<drive>` prefix
 * (Hyperdrive's answer).
 */
export function splitVfsPath(path: string): string[] {
  const segments: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") throw parseError("`..` is not allowed in a vfs path", path);
    if (seg.includes("\\") || seg.includes("\0")) {
      throw parseError("backslash or NUL in a vfs path segment", path);
    }
    if (ENCODED_SEPARATOR.test(seg)) {
      throw parseError("encoded separator in a vfs path segment", path);
    }
    segments.push(seg);
  }
  return segments;
}

export function parseVfsPath(path: string): VfsPath {
  const segments = splitVfsPath(path);
  if (segments.length < 2) throw new VfsFailure("MalformedRequest");
  let packageId: PackageId;
  try {
    packageId = parsePackageId(segments[0]);
  } catch {
    throw new VfsFailure("MalformedRequest");
  }
  const driveName = segments[1];
  return {
    packageId,
    driveName,
    drive: `/${packageIdToString(packageId)}/${driveName}`,
    rest: segments.slice(2),
    segments,
  };
}

export function hostPath(vfsRoot: string, segments: string[]): string {
  return segments.length === 0 ? vfsRoot : join(vfsRoot, ...segments);
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
