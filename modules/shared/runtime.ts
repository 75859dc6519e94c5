// Plumbing the storage runtime modules (vfs, kv, sqlite) share.

import {
  type Address,
  KERNEL_PROCESS_ID,
  type KernelMessage,
  makeResponse,
  processIdEquals,
} from "../../wire/core.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";

/** kernel:distro:sys acts with root authority (node.request): capability checks skip it. */
export function isKernel(a: Address): boolean {
  return processIdEquals(a.process, KERNEL_PROCESS_ID);
}

/** Storage modules serve only their own node; a remote request is printed and dropped. */
export function fromOtherNode(ctx: RuntimeModuleContext, name: string, km: KernelMessage): boolean {
  if (km.source.node === ctx.our) return false;
  ctx.print(1, `${name}: got request from ${km.source.node}, but requests must come from our node`);
  return true;
}

/** The Response to `km`: body, an optional octet-stream blob, the request's metadata echoed. */
export function reply(
  km: KernelMessage,
  our: Address,
  body: Uint8Array,
  blob?: Uint8Array,
  metadata?: string,
): KernelMessage {
  const resp = makeResponse(
    km,
    our,
    body,
    blob ? { mime: "application/octet-stream", bytes: blob } : undefined,
  );
  if (metadata !== undefined && resp.message.tag === "response") {
    resp.message.val[0].metadata = metadata;
  }
  return resp;
}

/** What Deno appends to an fs error: the operation and host path(s), ": copy '/a' -> '/b'". */
const DENO_FS_CONTEXT = /: [a-z_]+ '[\s\S]*$/;

/**
 * Rust's io::Error display: "<message> (os error N)", or the bare message for errors
 * std raises itself (e.g. fs::copy of a directory). Deno appends the operation and the
 * host path, which is cut so no host path reaches a process.
 */
export function ioErrorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const i = m.indexOf("(os error");
  if (i < 0) return m.replace(DENO_FS_CONTEXT, "");
  const end = m.indexOf(")", i);
  return end < 0 ? m : m.slice(0, end + 1);
}
