// The standard process API (kernel/process_host/hyperware.wit), typed as a
// componentize-js component and a process module both see it. The one module of
// the SDK that imports it: everything else calls through `std`.

import {
  getBlob,
  getState,
  our,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";

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
/** What receive() and send-and-await-response() throw: the WIT send-error. */
export interface WitSendError {
  kind: "offline" | "timeout";
  target: Address;
  message: WitMessage;
}

export interface StandardApi {
  our(): Address;
  printToTerminal(verbosity: number, text: string): void;
  getState(): Uint8Array | undefined;
  setState(bytes: Uint8Array): void;
  getBlob(): Blob | undefined;
  /** Throws {payload: [WitSendError, context | undefined]}. */
  receive(): [Address, WitMessage];
  sendRequest(
    target: Address,
    request: WitRequest,
    context: Uint8Array | undefined,
    blob: Blob | undefined,
  ): void;
  sendResponse(response: WitResponse, blob: Blob | undefined): void;
  /** Throws {payload: WitSendError}. */
  sendAndAwaitResponse(
    target: Address,
    request: WitRequest,
    blob: Blob | undefined,
  ): [Address, WitMessage];
}

export const std: StandardApi = {
  our,
  printToTerminal,
  getState,
  setState,
  getBlob,
  receive,
  sendRequest,
  sendResponse,
  sendAndAwaitResponse,
} as StandardApi;

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function addressString(a: Address): string {
  const p = a.process;
  return `${a.node}@${p.processName}:${p.packageName}:${p.publisherNode}`;
}

export function processString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}

/** "node@process:package:publisher" -> Address; throws on anything else. */
export function parseAddress(s: string): Address {
  const at = s.split("@");
  const parts = at.length === 2 ? at[1].split(":") : [];
  if (at.length !== 2 || !at[0] || parts.length !== 3 || parts.some((p) => !p)) {
    throw new Error(`not an address "node@process:package:publisher": ${s}`);
  }
  return {
    node: at[0],
    process: { processName: parts[0], packageName: parts[1], publisherNode: parts[2] },
  };
}

/** A request whose body is `body` as JSON (bytes as they are). */
export function request(body: unknown, timeoutSeconds?: number): WitRequest {
  return {
    inherit: false,
    expectsResponse: timeoutSeconds === undefined ? undefined : BigInt(timeoutSeconds),
    body: body instanceof Uint8Array ? body : enc.encode(JSON.stringify(body)),
    metadata: undefined,
    capabilities: [],
  };
}

export function response(body: Uint8Array): WitResponse {
  return { inherit: false, body, metadata: undefined, capabilities: [] };
}
