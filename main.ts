/**
 * hyperdeno: a Hyperware node runtime on Deno, beside Hyperdrive (the Rust
 * reference): it runs the same Wasm packages and talks the same network.
 *
 * `bootNode` boots a node in-process (tests, embedders); running this module is
 * the CLI, `hyperdeno <home> [options]`, with Hyperdrive's flags.
 *
 * @example
 * ```ts
 * import { bootNode } from "./main.ts";
 * const node = await bootNode({ home: "./home", httpPort: 0, tcpPort: 0, wsPort: false });
 * const res = await node.request("our@hello:hello:sys", JSON.stringify("hi"));
 * await node.shutdown();
 * ```
 *
 * @module
 */

export { bootNode, NodeSendError, VERSION } from "./node.ts";
export type {
  BootOptions,
  HyperdenoNode,
  NodeResponse,
  PrintHandler,
  RequestOptions,
} from "./node.ts";
export type { HnsUpdate } from "./wire/net.ts";
export type { NodeId, ProcessId, SendErrorKind } from "./wire/core.ts";
export type { ManifestEntry } from "./kernel/packages.ts";
export type { Keyfile, LoadedKeyfile } from "./modules/keyfile/mod.ts";
export type { EthModuleOptions, EthTiming } from "./modules/eth/mod.ts";
export type { ConsolePort, RuntimeConsole } from "./kernel/console_port.ts";
export type { ChainRouting } from "./chain/identity.ts";

import { runCli } from "./cli.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
