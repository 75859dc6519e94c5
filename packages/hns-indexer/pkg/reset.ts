// reset (a script of hns-indexer:sys): asks hns-indexer to drop its index and index the chain
// again (IndexerRequest::Reset), attaching the root capability this script was given (the
// indexer answers NoRootCap without it). Like Hyperdrive's, it takes no arguments.
import { our, printToTerminal, sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";

export function init(_our: string): void {
  const me = our();
  const indexer = {
    node: me.node,
    process: { processName: "hns-indexer", packageName: "hns-indexer", publisherNode: "sys" },
  };
  try {
    const [, message] = sendAndAwaitResponse(indexer, {
      inherit: false,
      expectsResponse: 5n,
      body: new TextEncoder().encode(JSON.stringify("Reset")),
      metadata: undefined,
      capabilities: [{ issuer: indexer, params: '{"root":true}' }],
    }, undefined);
    if (message.tag !== "response") return;
    const v = JSON.parse(new TextDecoder().decode(message.val[0].body));
    printToTerminal(0, `hns-indexer reset: ${JSON.stringify(v?.Reset ?? v)}`);
  } catch (e) {
    const kind = (e as { payload?: { kind?: string } }).payload?.kind;
    printToTerminal(0, `hns-indexer reset: no answer (${kind ?? String(e)})`);
  }
}
