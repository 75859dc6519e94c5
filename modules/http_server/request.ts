// An incoming HTTP request as http-server reads it (path, host, headers), and the
// path, address and reply helpers every part of the server uses.

import { type ProcessId, processIdToString } from "../../wire/core.ts";
import { readStreamLimited } from "../shared/bytes.ts";
import { type ByteBudget, readStreamBudgeted } from "../shared/budget.ts";
import { HTTP_CLIENT_TAG } from "../../wire/http_client.ts";

const HOMEPAGE = "homepage:homepage:sys";
const REVERSE_PROXY_HEADERS = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
];
const HOST_CHARS = /^[A-Za-z0-9.\-:[\]_]*$/;

export interface RequestInfo {
  req: Request;
  remote: Deno.NetAddr | undefined;
  rawPath: string;
  rawQuery: string;
  /** The path without one trailing '/' (Hyperdrive's normalize_path). */
  originalPath: string;
  host: string;
  hostname: string;
  headers: Record<string, string>;
  /** Sent by a node's own http-client (HTTP_CLIENT_TAG): never from this machine. */
  viaHttpClient: boolean;
}

/**
 * The request's path, query, host and headers, or the refusal for oversized
 * headers, a bad Host or a path that could escape its binding.
 */
export function readRequest(
  req: Request,
  remote: Deno.NetAddr | undefined,
  maxHeaderBytes: number,
): RequestInfo | Response {
  let headerBytes = 0;
  const headers: Record<string, string> = {};
  // forEach visits the same sorted, combined pairs as for-of, without an
  // iterator result per header (~6x cheaper in Deno)
  req.headers.forEach((v, k) => {
    headerBytes += k.length + v.length;
    headers[k] = v;
  });
  if (headerBytes > maxHeaderBytes) return json("request headers too large", 431);
  const viaHttpClient = headers[HTTP_CLIENT_TAG] !== undefined;
  if (viaHttpClient) delete headers[HTTP_CLIENT_TAG];
  const host = headers["host"] ?? "localhost";
  if (!HOST_CHARS.test(host)) return json("invalid Host header", 400);
  // Deno builds req.url as scheme://host + request-target, unnormalized
  const afterScheme = req.url.indexOf("://") + 3;
  const slash = req.url.indexOf("/", afterScheme);
  const target = slash < 0 ? "/" : req.url.slice(slash);
  const hashAt = target.indexOf("#");
  const noFragment = hashAt < 0 ? target : target.slice(0, hashAt);
  const q = noFragment.indexOf("?");
  const rawPath = q < 0 ? noFragment : noFragment.slice(0, q);
  const rawQuery = q < 0 ? "" : noFragment.slice(q + 1);
  if (isUnsafePath(rawPath)) return json("invalid path", 400);
  return {
    req,
    remote,
    rawPath,
    rawQuery,
    originalPath: normalizePath(rawPath),
    host,
    hostname: hostnameOf(host),
    headers,
    viaHttpClient,
  };
}

/** Hyperdrive's normalize_path: drop one trailing '/'. */
export function normalizePath(path: string): string {
  return path.endsWith("/") ? path.slice(0, -1) : path;
}

/** Every bound path starts with the binder's ProcessId (homepage binds at the root). */
export function formatPathWithProcess(process: ProcessId, path: string): string {
  const p = processIdToString(process);
  if (p === HOMEPAGE) return normalizePath(path);
  return path.startsWith("/") ? `/${p}${normalizePath(path)}` : `/${p}/${normalizePath(path)}`;
}

/** Dot segments, encoded slashes or backslashes, NULs, or bad escapes: a path that could escape. */
export function isUnsafePath(path: string): boolean {
  // fast path: no escapes, no backslash, no dot segment
  if (!/[%\\\0]|\/\.\.?(\/|$)|^\.\.?(\/|$)/.test(path)) return false;
  for (const seg of path.split("/")) {
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      return true;
    }
    if (d === "." || d === ".." || d.includes("/") || d.includes("\\") || d.includes("\0")) {
      return true;
    }
  }
  return false;
}

function hostnameOf(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

/** Hyperdrive's is_localhost test for login scoping: the Host names localhost. */
export function isLocalhost(ri: RequestInfo): boolean {
  return ri.host.includes("localhost");
}

function isLoopback(addr: Deno.NetAddr | undefined): boolean {
  if (!addr) return false;
  const h = addr.hostname;
  return h.startsWith("127.") || h === "::1" || h.startsWith("::ffff:127.");
}

/**
 * Local-only paths and extensions are for a client on this machine, talking
 * directly (no reverse proxy in front), and only with --expose-local. A request
 * a node's http-client sent (for a process, or for anyone) is never one.
 */
export function notFromThisMachine(ri: RequestInfo, exposeLocal: boolean | undefined): boolean {
  return !exposeLocal || ri.viaHttpClient || !isLoopback(ri.remote) ||
    isBehindReverseProxy(ri.headers);
}

export function socketAddrString(addr: Deno.NetAddr | undefined): string | null {
  if (!addr) return null;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

function isBehindReverseProxy(headers: Record<string, string>): boolean {
  return REVERSE_PROXY_HEADERS.some((h) => h in headers);
}

/** The client's address as a reverse proxy reports it (Hyperdrive's get_forwarded_ip). */
export function forwardedIp(headers: Record<string, string>): string | null {
  const xff = headers["x-forwarded-for"];
  if (xff !== undefined) {
    const first = xff.split(",")[0].trim();
    if (first) return first;
  }
  for (const h of ["x-real-ip", "cf-connecting-ip"]) {
    const v = headers[h]?.trim();
    if (v) return v;
  }
  return null;
}

/** `path.split("/")[1] ?? ""` without the array. */
export function firstSegment(path: string): string {
  const start = path.indexOf("/");
  if (start < 0) return "";
  const end = path.indexOf("/", start + 1);
  return end < 0 ? path.slice(start + 1) : path.slice(start + 1, end);
}

export function json(value: unknown, status: number, extra?: HeadersInit): Response {
  const headers = new Headers(extra);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(value), { status, headers });
}

export function empty(status: number): Response {
  return new Response(null, { status });
}

export class BodyTooLarge extends Error {}
/** The request bodies held across all connections would pass maxBufferedBodyBytes. */
export class BodiesOverBudget extends Error {}

/** The whole request body, refusing more than `limit` bytes (BodyTooLarge). */
export async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new BodyTooLarge();
  return await readStreamLimited(req.body, limit, () => new BodyTooLarge());
}

/**
 * The whole request body, at most `limit` bytes (BodyTooLarge), taken from the
 * server's `budget` as it is read (BodiesOverBudget; a declared length is checked
 * before reading). The caller gives back `result.length` bytes when done with it.
 */
export async function readBodyBudgeted(
  req: Request,
  limit: number,
  budget: ByteBudget,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > limit) throw new BodyTooLarge();
    if (!budget.fits(Number(declared))) throw new BodiesOverBudget();
  }
  return await readStreamBudgeted(
    req.body,
    limit,
    budget,
    () => new BodyTooLarge(),
    () => new BodiesOverBudget(),
  );
}
