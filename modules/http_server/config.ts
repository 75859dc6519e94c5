// http-server's options, limits and constants, and the state its parts share.

import type { Address } from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";
import type { Bindings } from "./bindings.ts";

export const DEFAULT_HTTP_PORT = 8080;
/** Seconds to wait for a process's HttpResponse, unless X-Hyperware-Http-Server-Timeout says. */
export const HTTP_SELF_IMPOSED_TIMEOUT = 15;
/**
 * The same wait in Hyperdrive's simulation-mode build: the fake nodes kit boots.
 * kit run-tests waits on tester's Run over RPC for as long as the tests take.
 */
export const HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION = 600;
export const WS_SELF_IMPOSED_MAX_CONNECTIONS = 128;

export interface HttpServerLimits {
  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: number;
  /** Largest total size of request header names and values (431 beyond). */
  maxHeaderBytes: number;
  /** A WebSocket client that leaves more than this unread is closed (1008). */
  wsMaxBufferedBytes: number;
  /**
   * Unread bytes across all WebSocket channels. Past it, a channel holding more than
   * its share (this / maxWebSockets) is closed (1008) when a process pushes to it.
   */
  wsMaxTotalBufferedBytes: number;
  /** Requests waiting on processes at once (503 beyond). */
  maxPendingRequests: number;
  /**
   * Request bodies held at once, across all connections: being read, or sent to a
   * process that has not answered yet (503 beyond).
   */
  maxBufferedBodyBytes: number;
  /** Concurrent /login attempts (each costs a PBKDF2 run; 429 beyond). */
  maxConcurrentLogins: number;
  /** Open WebSockets (Hyperdrive's WS_SELF_IMPOSED_MAX_CONNECTIONS; 503 beyond). */
  maxWebSockets: number;
  /** An upgraded WebSocket that has not opened within this many ms gives its slot back. */
  wsHandshakeTimeoutMs: number;
  /**
   * Longest path a process may bind or unbind, its ProcessId prefix included
   * (MalformedRequest beyond).
   */
  maxBoundPathLength: number;
}

export const DEFAULT_LIMITS: HttpServerLimits = {
  maxBodyBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 64 * 1024,
  wsMaxBufferedBytes: 16 * 1024 * 1024,
  wsMaxTotalBufferedBytes: 64 * 1024 * 1024,
  maxPendingRequests: 4096,
  maxBufferedBodyBytes: 256 * 1024 * 1024,
  maxConcurrentLogins: 4,
  maxWebSockets: WS_SELF_IMPOSED_MAX_CONNECTIONS,
  wsHandshakeTimeoutMs: 10_000,
  maxBoundPathLength: 2048,
};

export interface HttpServerOptions {
  /** Port to serve on; 0 picks a free one; false serves no HTTP (the module still answers actions). */
  port: number | false;
  /** If `port` is taken, try the next ones (up to 8999, or port+1000), as Hyperdrive's default port. */
  searchPort?: boolean;
  /** Interface to listen on; default "0.0.0.0" as Hyperdrive. */
  hostname?: string;
  /** The keyfile's JWT secret: signs and checks login cookies. */
  jwtSecret: Uint8Array;
  /** The encrypted keyfile as on disk; POST /login decrypts it with the password hash. */
  encodedKeyfile?: Uint8Array;
  /** Serve local-only paths and RPC to loopback clients (Hyperdrive's --expose-local). Default false. */
  exposeLocal?: boolean;
  /**
   * Seconds to wait for a process's answer when the client sends no
   * X-Hyperware-Http-Server-Timeout: HTTP_SELF_IMPOSED_TIMEOUT (default), or
   * HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION to behave as a fake node.
   */
  selfImposedTimeoutSeconds?: number;
  limits?: Partial<HttpServerLimits>;
}

export interface HttpServerModule extends RuntimeModule {
  /** The port being served, once started (undefined with port false). */
  readonly port: number | undefined;
  /** Base URL for local clients, e.g. "http://localhost:8080", once started. */
  readonly url: string | undefined;
}

/** What the server's parts (actions, forwarding, login, WebSockets) share, from start(). */
export interface ServerCore {
  readonly ctx: RuntimeModuleContext;
  /** http-server's own address: the source of everything it sends. */
  readonly self: Address;
  readonly opts: HttpServerOptions;
  readonly limits: HttpServerLimits;
  /** The node's JWT secret, imported for HMAC. */
  readonly jwtKey: CryptoKey;
  readonly bindings: Bindings;
}
