// vfs:distro:sys's API (Hyperdrive lib/src/vfs.rs) as serde JSON: VfsRequest
// {"path": string, "action": VfsAction}, VfsResponse, VfsError. Externally tagged
// enums, snake_case fields, u64 as JSON numbers. Reads answer their bytes in the blob.

import { bool, field, i64, str, u64, unit, variant } from "./fields.ts";
import { encodeJsonExact, parseJsonBody } from "./json.ts";

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
  | { Hash: Uint8Array };

/** VfsError's Display, as Hyperdrive's thiserror prints it. */
function vfsErrorText(e: VfsError): string {
  if (typeof e === "string") {
    return {
      NoWriteCap: "no write capability for requested drive",
      NoReadCap: "no read capability for requested drive",
      AddCapFailed: "failed to generate capability for new drive",
      MalformedRequest: "request could not be deserialized to valid VfsRequest",
      NoBlob: "request type used requires a blob",
      UnzipError: "non-file non-dir in zip",
    }[e];
  }
  if ("ParseError" in e) return `error parsing path: ${e.ParseError.path}: ${e.ParseError.error}`;
  return `IO error: ${e.IOError}`;
}

/** A VfsError raised while handling a request; answered as `{"Err": ...}`. */
export class VfsFailure extends Error {
  constructor(readonly error: VfsError) {
    super(vfsErrorText(error));
  }
}

export function ioError(message: string): VfsFailure {
  return new VfsFailure({ IOError: message });
}

export function parseError(error: string, path: string): VfsFailure {
  return new VfsFailure({ ParseError: { error, path } });
}

const UNIT_ACTIONS = new Set<string>([
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

function parseAction(v: unknown): VfsAction {
  const [tag, val] = variant(v);
  if (UNIT_ACTIONS.has(tag)) {
    unit(tag, val);
    return { tag } as VfsAction;
  }
  switch (tag) {
    case "OpenFile":
      return { tag, create: bool(field(val, "create")) };
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

export const encodeVfsResponse: (r: VfsResponse) => Uint8Array = encodeJsonExact;

/** Capability params as vfs issues them (Hyperdrive's exact text, not serde's). */
export function driveCapParams(kind: "read" | "write", drive: string): string {
  return `{"kind": "${kind}", "drive": ${JSON.stringify(drive)}}`;
}

export const ROOT_CAP_PARAMS = '{"root":true}';
