// The paths processes have bound for HTTP and for WebSockets, and the secure
// subdomains in use. Actions write them; request handling reads them.

import { type LazyLoadBlob, parseProcessId, type ProcessId } from "../../wire/core.ts";
import { PathRouter } from "./router.ts";

/** kit's RPC endpoint: a local-only binding owned by rpc:distro:sys from the start. */
export const RPC_PATH = "/rpc:distro:sys/message";
export const RPC_PROCESS_ID = parseProcessId("rpc:distro:sys");

export interface BoundPath {
  /** undefined once unbound (Hyperdrive keeps the route, without an app) */
  app?: ProcessId;
  path: string;
  secureSubdomain?: string;
  authenticated: boolean;
  localOnly: boolean;
  /** A `cache` binding's blob, served to GET without asking the process. */
  staticContent?: LazyLoadBlob;
}

export interface BoundWsPath {
  app?: ProcessId;
  secureSubdomain?: string;
  authenticated: boolean;
  /** A runtime extension: speaks MessagePack'd HttpServerAction (see websocket.ts). */
  extension: boolean;
}

export class Bindings {
  readonly paths = new PathRouter<BoundPath>();
  readonly wsPaths = new PathRouter<BoundWsPath>();
  /** Subdomains of SecureBind'ers: other apps' authenticated paths are refused there. */
  readonly secureSubdomains = new Set<string>();

  constructor() {
    this.paths.add(RPC_PATH, {
      app: RPC_PROCESS_ID,
      path: RPC_PATH,
      authenticated: false,
      localOnly: true,
    });
  }
}
