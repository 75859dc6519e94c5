// The node a bench boots: nothing printed, TCP on a free loopback port, no WebSocket listener.

import { bootNode, type BootOptions, type HyperdenoNode } from "../main.ts";

/** A node for measuring: `opts` adds to or overrides the quiet defaults. */
export function bootQuietNode(
  home: string,
  opts: Partial<BootOptions> = {},
): Promise<HyperdenoNode> {
  return bootNode({ home, verbosity: 0, onPrint: () => {}, tcpPort: 0, wsPort: false, ...opts });
}
