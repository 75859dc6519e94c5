// Wire shapes of vfs:distro:sys, as Hyperdrive's serde (de)serializes them:
// externally tagged enums, snake_case fields, u64 as JSON numbers.

import { textDecoder } from "./core.ts";
import { field, i64, str, u64, variant } from "./fields.ts";
import { parseJsonBody, parseJsonExact } from "./json.ts";

export { parseJsonExact };

export type SeekFrom =
  | { tag: "Start"; offset: bigint }
  | { tag: "End"; offset: bigint }
  | { tag: "Current"; offset: bigint };

export type VfsAction =
  | { tag: "CreateDrive" }
  | { tag: "CreateDir" }
  | { tag: "CreateDirAll" }
  | { tag: "CreateFile" }
  | { tag: "OpenFile"; create: boolean }
  | { tag: "CloseFile" }
  | { tag: "Write" }
  | { tag: "WriteAll" }
  | { tag: "Append" }
  | { tag: "SyncAll" }
  | { tag: "Read" }
  | { tag: "ReadDir" }
  | { tag: "ReadToEnd" }
  | { tag: "ReadExact"; length: bigint }
  | { tag: "ReadToString" }
  | { tag: "Seek"; from: SeekFrom }
  | { tag: "RemoveFile" }
  | { tag: "RemoveDir" }
  | { tag: "RemoveDirAll" }
  | { tag: "Rename"; newPath: string }
  | { tag: "Metadata" }
  | { tag: "AddZip" }
  | { tag: "CopyFile"; newPath: string }
  | { tag: "Len" }
  | { tag: "SetLen"; length: bigint }
  | { tag: "Hash" };

export type VfsActionTag = VfsAction["tag"];

export interface VfsRequest {
  path: string;
  action: VfsAction;
}

export type FileType = "File" | "Directory" | "Symlink" | "Other";

export interface DirEntry {
  path: string;
  file_type: FileType;
}

export type VfsError =
  | "NoWriteCap"
  | "NoReadCap"
  | "AddCapFailed"
  | "MalformedRequest"
  | "NoBlob"
  | { ParseError: { error: string; path: string } }
  | { IOError: string }
  | "UnzipError";

export type VfsResponse =
  | "Ok"
  | { Err: VfsError }
  | "Read"
  | { SeekFrom: { new_offset: number } }
  | { ReadDir: DirEntry[] }
  | { ReadToString: string }
  | { Metadata: { file_type: FileType; len: number } }
  | { Len: number }
  | { Hash: number[] };

/** Thrown by handlers; becomes `{"Err": ...}`. */
export class VfsFailure extends Error {
  constructor(readonly error: VfsError) {
    super(typeof error === "string" ? error : JSON.stringify(error));
  }
}

export function ioError(message: string): VfsFailure {
  return new VfsFailure({ IOError: message });
}

export function parseError(error: string, path: string): VfsFailure {
  return new VfsFailure({ ParseError: { error, path } });
}

const UNIT_ACTIONS = new Set<VfsActionTag>([
  "CreateDrive",
  "CreateDir",
  "CreateDirAll",
  "CreateFile",
  "CloseFile",
  "Write",
  "WriteAll",
  "Append",
  "SyncAll",
  "Read",
  "ReadDir",
  "ReadToEnd",
  "ReadToString",
  "RemoveFile",
  "RemoveDir",
  "RemoveDirAll",
  "Metadata",
  "AddZip",
  "Len",
  "Hash",
]);

function parseSeekFrom(v: unknown): SeekFrom {
  const [tag, val] = variant(v);
  switch (tag) {
    case "Start":
      return { tag, offset: u64(val) };
    case "End":
    case "Current":
      return { tag, offset: i64(val) };
  }
  throw new Error(`unknown SeekFrom ${tag}`);
}

export function parseAction(v: unknown): VfsAction {
  const [tag, val] = variant(v);
  if (UNIT_ACTIONS.has(tag as VfsActionTag)) {
    // serde accepts a unit variant as "Tag" or {"Tag": null}
    if (val !== null) throw new Error(`${tag} takes no value`);
    return { tag } as VfsAction;
  }
  switch (tag) {
    case "OpenFile": {
      const create = field(val, "create");
      if (typeof create !== "boolean") throw new Error("create must be a bool");
      return { tag, create };
    }
    case "ReadExact":
      return { tag, length: u64(field(val, "length")) };
    case "Seek":
      return { tag, from: parseSeekFrom(val) };
    case "Rename":
    case "CopyFile":
      return { tag, newPath: str(field(val, "new_path")) };
    case "SetLen":
      return { tag, length: u64(val) };
  }
  throw new Error(`unknown VfsAction ${tag}`);
}

/** Body bytes -> VfsRequest, or MalformedRequest as Hyperdrive answers a serde failure. */
export function parseVfsRequest(body: Uint8Array): VfsRequest {
  try {
    const v = parseJsonBody(body);
    return { path: str(field(v, "path")), action: parseAction(field(v, "action")) };
  } catch {
    throw new VfsFailure("MalformedRequest");
  }
}

export function encodeVfsResponse(r: VfsResponse): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(r));
}

export function decodeVfsResponse(body: Uint8Array): VfsResponse {
  return JSON.parse(textDecoder.decode(body));
}

/** Capability params as vfs issues them (Hyperdrive's exact text). */
export function driveCapParams(kind: "read" | "write", drive: string): string {
  return `{"kind": "${kind}", "drive": ${JSON.stringify(drive)}}`;
}

export const ROOT_CAP_PARAMS = '{"root":true}';
