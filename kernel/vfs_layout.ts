// The vfs on disk, in one place: <home>/vfs/<package_id>/<drive>/<rest...>, and how a
// vfs path ("/<package_id>/<drive>/...") maps onto it. Pure functions on strings; the
// vfs module adds what needs the filesystem (the symlink check).
//
// Paths are resolved as Hyperdrive's vfs resolves them: "." dropped, ".." taking back
// the segment before it, so "/pkg:pub/pkg/../pkg/ui" is "/pkg:pub/pkg/ui". A path that
// would climb above the vfs root is refused (Hyperdrive: MalformedRequest). Stricter
// than Hyperdrive, a segment may not carry a backslash, NUL or a percent-encoded
// separator, so no later decoding layer can turn it into a path step.

import { join } from "node:path";
import { type PackageId, packageIdToString } from "../wire/core.ts";

/** The drives every package has (the kernel and the vfs create them on first use). */
export const DEFAULT_DRIVES = ["pkg", "tmp"] as const;

/** Why a vfs path was refused. `escape`: it climbs above the vfs root. */
export class VfsPathError extends Error {
  constructor(readonly kind: "escape" | "segment", message: string) {
    super(message);
  }
}

/** The vfs root of a node home. */
export function vfsRoot(home: string): string {
  return join(home, "vfs");
}

/** A package's directory under the vfs root: <root>/<package_id>. */
export function packageDir(root: string, pkg: PackageId): string {
  return join(root, packageIdToString(pkg));
}

/** A package's drive directory: <root>/<package_id>/<drive>. */
export function driveDir(root: string, pkg: PackageId, drive: string): string {
  return join(root, packageIdToString(pkg), drive);
}

// Percent-encoded "/", "\", "." and NUL.
const ENCODED_SEPARATOR = /%(2f|5c|2e|00)/i;

function checkSegment(seg: string): void {
  if (seg.includes("\\") || seg.includes("\0")) {
    throw new VfsPathError("segment", "backslash or NUL in a vfs path segment");
  }
  if (ENCODED_SEPARATOR.test(seg)) {
    throw new VfsPathError("segment", "encoded separator in a vfs path segment");
  }
}

/**
 * A vfs path as segments from the vfs root, ".." resolved (leading "/" optional).
 * Throws VfsPathError: "escape" above the root, "segment" for an unsafe segment.
 */
export function vfsSegments(path: string): string[] {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) throw new VfsPathError("escape", "path climbs above the vfs root");
      out.pop();
      continue;
    }
    checkSegment(seg);
    out.push(seg);
  }
  return out;
}

/**
 * A relative name that may not step up at all (a zip entry): its segments, "."
 * dropped. Throws VfsPathError for "..", or any unsafe segment.
 */
export function plainSegments(name: string): string[] {
  const out: string[] = [];
  for (const seg of name.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") throw new VfsPathError("escape", "`..` is not allowed here");
    checkSegment(seg);
    out.push(seg);
  }
  return out;
}

/** The host path of segments under the vfs root (already vetted). */
export function hostPathOf(root: string, segments: readonly string[]): string {
  return segments.length === 0 ? root : join(root, ...segments);
}

/** A vfs path's host path under `root`; throws VfsPathError as vfsSegments. */
export function vfsHostPath(root: string, path: string): string {
  return hostPathOf(root, vfsSegments(path));
}
