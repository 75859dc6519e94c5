// net benchmarks, node to node across two Deno processes on loopback:
// - rtt: request/response round trip over TCP and over WS, against a capnweb
//   RPC round trip over WebSocket (baseline);
// - throughput: bulk transfer of 32 random 4 MiB blobs node to node, 2 requests
//   in flight (a new one starts as each is answered), over TCP and WS between
//   hyperdeno nodes (msgpack bin, a negotiated wire extension) and over TCP in
//   Hyperdrive's exact format (a peer that offers no extensions), against raw
//   node:crypto ChaCha20-Poly1305 sealing the same 128 MiB in 65519-byte chunks
//   through its public API (baseline: a fresh output buffer per chunk, as any
//   caller of update() gets; net's own seal writes into its frame instead);
// - the floor of TCP bulk: a bare TCP socket pair moving the same 32 x 4 MiB as
//   Hyperdrive-framed sealed messages (net's seal and open, 1 MiB write slices, 2
//   in flight, a 1-byte ack per message), without msgpack, KernelMessages or net;
// the bulk rows and the floor are sent from a node in a third process (`net_peer.ts
// sender`, run as a node runs, see there); the raw seal runs in this process;
// - one 4 MiB blob request/response at a time (latency, no baseline).
// Run: deno bench -A benches/net.bench.ts

import { newWebSocketRpcSession } from "capnweb";
import { CHUNK_PLAINTEXT } from "../net/link.ts";
import { BenchNode } from "./net_node.ts";

const BLOB_BYTES = 4 * 1024 * 1024;
const BULK_BLOBS = Number(Deno.env.get("BULK_BLOBS") ?? 32);
const IN_FLIGHT = Number(Deno.env.get("IN_FLIGHT") ?? 2);
// a bulk iteration moves ±15% between iterations on this shared VM: average more of them
const BULK_RUNS = { n: 40, warmup: 5 };

const bench = new BenchNode("bench.os", {
  networkingKey: crypto.getRandomValues(new Uint8Array(32)),
  tcpPort: 0,
  wsPort: false,
  listenHostname: "127.0.0.1",
});

// The bulk rows' sender is a node in its own `deno run` process, as a node runs: under
// `deno bench` net/aead.ts cannot reach the native op it seals in place with.
const senderProcess = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("./net_peer.ts", import.meta.url).pathname, "sender"],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const toSender = senderProcess.stdin.getWriter();
const fromSender = senderProcess.stdout.pipeThrough(new TextDecoderStream()).getReader();
let senderOut = "";
async function senderLine(): Promise<string> {
  while (!senderOut.includes("\n")) {
    const { value, done } = await fromSender.read();
    if (done) throw new Error("bench sender exited early");
    senderOut += value;
  }
  const line = senderOut.slice(0, senderOut.indexOf("\n"));
  senderOut = senderOut.slice(line.length + 1);
  return line;
}
/** Run one sender command and wait for its "done". */
async function senderDo(cmd: string): Promise<void> {
  await toSender.write(new TextEncoder().encode(cmd + "\n"));
  const reply = await senderLine();
  if (reply !== "done") throw new Error(`bench sender answered ${reply}`);
}
const senderIdentity = JSON.parse(await senderLine());

const peerProcess = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("./net_peer.ts", import.meta.url).pathname],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const toPeer = peerProcess.stdin.getWriter();
await toPeer.write(
  new TextEncoder().encode(JSON.stringify([bench.module.identity, senderIdentity]) + "\n"),
);
const fromPeer = peerProcess.stdout.pipeThrough(new TextDecoderStream()).getReader();
let line = "";
while (!line.includes("\n")) {
  const { value, done } = await fromPeer.read();
  if (done) throw new Error("bench peer exited early");
  line += value;
}
const peer = JSON.parse(line.slice(0, line.indexOf("\n")));
bench.module.ingest(peer.tcpPeer);
bench.module.ingest(peer.wsPeer);
bench.module.ingest(peer.strictPeer);
await bench.start();
await toSender.write(new TextEncoder().encode(line.slice(0, line.indexOf("\n")) + "\n"));
if ((await senderLine()) !== "ready") throw new Error("bench sender not ready");

// deno-lint-ignore no-explicit-any
const capnweb: any = newWebSocketRpcSession(`ws://127.0.0.1:${peer.capnwebPort}`);

const small = new TextEncoder().encode("ping");
const bigBlob = new Uint8Array(BLOB_BYTES);
for (let off = 0; off < BLOB_BYTES; off += 65536) {
  crypto.getRandomValues(bigBlob.subarray(off, off + 65536));
}
const key = crypto.getRandomValues(new Uint8Array(32));
const nonce = new Uint8Array(12);

// node:crypto through a non-literal specifier, as net/aead.ts loads it
interface PublicCipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
const NODE_CRYPTO: string = "node:crypto";
const nodeCrypto = (await import(NODE_CRYPTO)) as {
  createCipheriv(alg: string, key: Uint8Array, iv: Uint8Array, o: object): PublicCipher;
};

/** ciphertext || tag, through node:crypto's public API only (the baseline's seal). */
function publicSeal(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + 16);
  const cipher = nodeCrypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  const body = cipher.update(plaintext);
  out.set(body, 0);
  const tail = cipher.final();
  out.set(tail, body.length);
  out.set(cipher.getAuthTag(), body.length + tail.length);
  return out;
}

// warm up every path (connections opened, JIT) before measuring
for (let i = 0; i < 20; i++) {
  await bench.call("peer-tcp.os@echo:bench:sys", small);
  await bench.call("peer-ws.os@echo:bench:sys", small);
  await capnweb.echo("ping");
}
for (const to of ["peer-tcp.os", "peer-ws.os", "peer-strict.os"]) {
  await bench.call(`${to}@echo:bench:sys`, small, bigBlob);
  await senderDo(`bulk ${to} 2 1`);
}
await senderDo(`floor 2 ${IN_FLIGHT}`);

// Benches must be `async` functions: deno bench awaits only those (a plain arrow
// returning a promise is timed as if synchronous).

/** BULK_BLOBS requests carrying the blob, IN_FLIGHT at a time, sent by the bulk sender. */
function bulk(to: string): Promise<void> {
  return senderDo(`bulk ${to} ${BULK_BLOBS} ${IN_FLIGHT}`);
}

Deno.bench("capnweb RPC round trip (WebSocket)", { group: "rtt", baseline: true }, async () => {
  await capnweb.echo("ping");
});

Deno.bench("net request/response round trip (TCP)", { group: "rtt" }, async () => {
  await bench.call("peer-tcp.os@echo:bench:sys", small);
});

Deno.bench("net request/response round trip (WS)", { group: "rtt" }, async () => {
  await bench.call("peer-ws.os@echo:bench:sys", small);
});

Deno.bench(
  `raw chacha20-poly1305 seal, ${BULK_BLOBS} x 4 MiB in 65519-byte chunks`,
  { group: "throughput", baseline: true, ...BULK_RUNS },
  () => {
    for (let i = 0; i < BULK_BLOBS; i++) {
      for (let off = 0; off < BLOB_BYTES; off += CHUNK_PLAINTEXT) {
        publicSeal(bigBlob.subarray(off, off + CHUNK_PLAINTEXT));
      }
    }
  },
);

Deno.bench(`net bulk ${BULK_BLOBS} x 4 MiB, ${IN_FLIGHT} in flight (TCP)`, {
  group: "throughput",
  ...BULK_RUNS,
}, async () => {
  await bulk("peer-tcp.os");
});

Deno.bench(
  `bare TCP socket pair, same sealed frames, ${BULK_BLOBS} x 4 MiB, ${IN_FLIGHT} in flight (floor)`,
  { group: "throughput", ...BULK_RUNS },
  async () => {
    await senderDo(`floor ${BULK_BLOBS} ${IN_FLIGHT}`);
  },
);

Deno.bench(`net bulk ${BULK_BLOBS} x 4 MiB, ${IN_FLIGHT} in flight (WS)`, {
  group: "throughput",
  ...BULK_RUNS,
}, async () => {
  await bulk("peer-ws.os");
});

Deno.bench(`net bulk ${BULK_BLOBS} x 4 MiB, ${IN_FLIGHT} in flight (TCP, Hyperdrive format)`, {
  group: "throughput",
  ...BULK_RUNS,
}, async () => {
  await bulk("peer-strict.os");
});

Deno.bench("one 4 MiB blob request/response (TCP)", { group: "blob latency" }, async () => {
  await bench.call("peer-tcp.os@echo:bench:sys", small, bigBlob);
});

Deno.bench("one 4 MiB blob request/response (TCP, Hyperdrive format)", {
  group: "blob latency",
}, async () => {
  await bench.call("peer-strict.os@echo:bench:sys", small, bigBlob);
});

// the peer process exits when its stdin closes, i.e. when this process ends
globalThis.addEventListener("unload", () => {
  try {
    senderProcess.kill();
  } catch {
    // already gone
  }
  try {
    peerProcess.kill();
  } catch {
    // already gone
  }
});
