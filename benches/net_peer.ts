// The far end for benches/net.bench.ts, run as its own Deno process: three net
// nodes (TCP-only, WS-only, TCP-only without wire extensions) with an echo process, and a capnweb echo
// server over WebSocket. Reads the bench node's HnsUpdate as one JSON line on
// stdin, prints its own records as one JSON line, and exits when stdin closes.

import { newWebSocketRpcSession, RpcTarget } from "capnweb";
import { BenchNode } from "./net_node.ts";

class EchoApi extends RpcTarget {
  echo(x: string): string {
    return x;
  }
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
while (!buffered.includes("\n")) {
  const { value, done } = await lines.read();
  if (done) Deno.exit(1);
  buffered += value;
}
const benchIdentity = JSON.parse(buffered.slice(0, buffered.indexOf("\n")));

const opts = { listenHostname: "127.0.0.1", pki: [benchIdentity] };
const tcpPeer = new BenchNode("peer-tcp.os", {
  networkingKey: crypto.getRandomValues(new Uint8Array(32)),
  tcpPort: 0,
  wsPort: false,
  ...opts,
});
const wsPeer = new BenchNode("peer-ws.os", {
  networkingKey: crypto.getRandomValues(new Uint8Array(32)),
  tcpPort: false,
  wsPort: 0,
  ...opts,
});
// speaks only Hyperdrive's bytes (offers no wire extensions), as a Hyperdrive peer would
const strictPeer = new BenchNode("peer-strict.os", {
  networkingKey: crypto.getRandomValues(new Uint8Array(32)),
  tcpPort: 0,
  wsPort: false,
  wireExtensions: false,
  ...opts,
});
await tcpPeer.start();
await wsPeer.start();
await strictPeer.start();

const capnweb = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  newWebSocketRpcSession(socket, new EchoApi());
  return response;
});

console.log(JSON.stringify({
  tcpPeer: tcpPeer.module.identity,
  wsPeer: wsPeer.module.identity,
  strictPeer: strictPeer.module.identity,
  capnwebPort: capnweb.addr.port,
}));

// run until the bench process goes away
while (!(await lines.read()).done) { /* ignore input */ }
await Promise.all([tcpPeer.shutdown(), wsPeer.shutdown(), strictPeer.shutdown()]);
await capnweb.shutdown();
Deno.exit(0);
