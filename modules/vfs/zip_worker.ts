// The Worker an AddZip runs in (one per request): inflating is synchronous, kept off
// the kernel's thread, and a Worker running JS can be terminated at the time limit.
// Messages: {op:"scan", bytes, vfsPath, limits} -> {entries} | {error};
// then {op:"extract", targets} -> {done: true} | {error}.

/// <reference lib="deno.worker" />

import { extractZip, scanZip, type ZipEntry, type ZipLimits } from "./zip.ts";
import { type VfsError, VfsFailure } from "../../wire/vfs.ts";

export type ZipRequest =
  | { op: "scan"; bytes: ArrayBuffer; vfsPath: string; limits: ZipLimits }
  | { op: "extract"; targets: string[] };

export type ZipReply =
  | { entries: ZipEntry[] }
  | { done: true }
  | { error: { vfs: VfsError } | { message: string } };

let bytes = new Uint8Array(0);
let entries: ZipEntry[] = [];
/** what the scan inflated and keeps for the extraction (zip.ts) */
let keep = new Map<number, Uint8Array>();

function reply(r: ZipReply) {
  self.postMessage(r);
}

self.onmessage = (ev: MessageEvent<ZipRequest>) => {
  const m = ev.data;
  try {
    if (m.op === "scan") {
      bytes = new Uint8Array(m.bytes);
      keep = new Map();
      entries = scanZip(bytes, m.vfsPath, m.limits, keep);
      reply({ entries });
    } else {
      extractZip(bytes, entries, m.targets, keep);
      keep = new Map();
      reply({ done: true });
    }
  } catch (e) {
    reply({
      error: e instanceof VfsFailure
        ? { vfs: e.error }
        : { message: e instanceof Error ? e.message : String(e) },
    });
  }
};
