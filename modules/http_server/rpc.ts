// kit's RPC endpoint, POST /rpc:distro:sys/message (local-only): a JSON RpcMessage
// becomes a request from http-server to the named process, and its answer comes
// back as { body, lazy_load_blob } with the blob's bytes as base64 text.

import {
  type Address,
  type KernelMessage,
  parseProcessId,
  type ProcessId,
  textEncoder,
} from "../../wire/core.ts";
import { parseRpcMessage, type RpcMessage } from "../../wire/http_server.ts";
import type { RuntimeModuleContext } from "../../kernel/module.ts";

/** No letters outside base64's, so no whitespace (fromBase64 would skip it). */
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * base64 as Hyperdrive's base64 crate STANDARD engine reads it: padding
 * required, no whitespace, canonical trailing bits; undefined when it is not.
 */
export function base64Standard(s: string): Uint8Array | undefined {
  if (!BASE64_CHARS.test(s)) return undefined;
  try {
    return Uint8Array.fromBase64(s, { lastChunkHandling: "strict" });
  } catch {
    return undefined;
  }
}

/** The request an RpcMessage asks for, or undefined when the body is not one (400). */
export function rpcRequest(
  ctx: RuntimeModuleContext,
  self: Address,
  id: bigint,
  body: Uint8Array,
): KernelMessage | undefined {
  let rpc: RpcMessage;
  let target: ProcessId;
  try {
    rpc = parseRpcMessage(body);
    target = parseProcessId(rpc.process);
  } catch {
    return undefined;
  }
  ctx.print(2, `http-server: passing on RPC message to ${rpc.process}`);
  // data that is not base64 sends the message without a blob, as Hyperdrive
  const bytes = rpc.data === null ? undefined : base64Standard(rpc.data);
  const expects = rpc.expects_response ?? undefined;
  return {
    id,
    source: self,
    target: { node: rpc.node ?? ctx.our, process: target },
    rsvp: expects === undefined ? undefined : self,
    message: {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: expects,
        body: rpc.body === null ? new Uint8Array(0) : textEncoder.encode(rpc.body),
        metadata: rpc.metadata ?? undefined,
        capabilities: [],
      },
    },
    lazyLoadBlob: bytes ? { mime: rpc.mime ?? undefined, bytes } : undefined,
  };
}

/** A process's Response to an RPC request, as kit reads it (RpcResponseBody). */
export function rpcAnswer(km: KernelMessage, body: Uint8Array): Response {
  // kit reads `body` as bytes and `lazy_load_blob.bytes` as base64 text bytes
  const blob = km.lazyLoadBlob
    ? {
      mime: km.lazyLoadBlob.mime ?? null,
      bytes: Array.from(textEncoder.encode(km.lazyLoadBlob.bytes.toBase64())),
    }
    : null;
  return new Response(JSON.stringify({ body: Array.from(body), lazy_load_blob: blob }), {
    status: 200,
    headers: { "content-type": "text/html" },
  });
}
