// What app-store:sys's processes (main, downloads, chain) share: the standard API's shapes
// as they use them, who they are, and small helpers. Imported by relative path
// (kernel/process_host/module_graph.ts).

import { our as ourAddress } from "hyperware:process/standard@1.0.0";

export interface ProcessId {
  processName: string;
  packageName: string;
  publisherNode: string;
}
export interface Address {
  node: string;
  process: ProcessId;
}
export interface Capability {
  issuer: Address;
  params: string;
}
export interface Blob {
  mime: string | undefined;
  bytes: Uint8Array;
}
export interface WitRequest {
  inherit: boolean;
  expectsResponse: bigint | undefined;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
export interface WitResponse {
  inherit: boolean;
  body: Uint8Array;
  metadata: string | undefined;
  capabilities: Capability[];
}
export type WitMessage =
  | { tag: "request"; val: WitRequest }
  | { tag: "response"; val: [WitResponse, Uint8Array | undefined] };

export const enc = new TextEncoder();
export const dec = new TextDecoder();
/** This process's address. */
export const me: Address = ourAddress();

/** A process on this node. */
export function local(processName: string, packageName: string, publisherNode: string): Address {
  return { node: me.node, process: { processName, packageName, publisherNode } };
}

export function pidString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

/** An error's text; a send error as "send error: <kind>". */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  const kind = (e as { payload?: { kind?: string } })?.payload?.kind;
  return kind ? `send error: ${kind}` : String(e);
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/** Input that is not what the API says (answered as a refusal, never a crash). */
export class Malformed extends Error {}
