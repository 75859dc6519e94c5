// The far end for benches/net.bench.ts, run as its own Deno process: three net
// nodes (TCP-only, WS-only, TCP-only without wire extensions) with an echo process, and a capnweb echo
// server over WebSocket. Reads the HnsUpdates of the nodes that will call it (a JSON
// record or array) as one JSON line on stdin, prints its own records as one JSON line,
// and exits when stdin closes.
//
// `net_peer.ts sender`: the sending end of the bulk rows instead, a node of its own run
// with `deno run` as a node is: `deno bench` (like `deno test`) does not expose the
// native cipher op net/aead.ts writes in place with, so a sender inside the bench
// process would not seal the way a node does. See runSender below.

import { newWebSocketRpcSession, RpcTarget } from "capnweb";
import { BenchNode } from "./net_node.ts";
import { CipherState, TAGLEN } from "../net/noise.ts";
import { CHUNK_PLAINTEXT } from "../net/link.ts";
import { freshBuffer } from "../net/buffers.ts";

class EchoApi extends RpcTarget {
  echo(x: string): string {
    return x;
  }
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
async function nextLine(): Promise<string | undefined> {
  while (!buffered.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) return undefined;
    buffered += value;
  }
  const line = buffered.slice(0, buffered.indexOf("\n"));
  buffered = buffered.slice(line.length + 1);
  return line;
}

if (Deno.args[0] === "sender") await runSender();

const first = await nextLine();
if (first === undefined) Deno.exit(1);
const callers = JSON.parse(first);

const opts = { listenHostname: "127.0.0.1", pki: Array.isArray(callers) ? callers : [callers] };
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

// The floor for TCP bulk: a bare socket that receives Hyperdrive-framed sealed messages (u32
// length, then u16 length + ciphertext per 65519-byte chunk), decrypts each into a fresh message
// buffer as net does, and acks each message with one byte. No msgpack, no KernelMessage, no net.
const floorKey = crypto.getRandomValues(new Uint8Array(32));
const floorListener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
(async () => {
  for await (const conn of floorListener) {
    conn.setNoDelay(true);
    (async () => {
      const recv = new CipherState(floorKey);
      let buf = new Uint8Array(1 << 20);
      let start = 0;
      let end = 0;
      const exact = async (n: number) => {
        if (end - start < n) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
          if (buf.length < n) {
            const grown = new Uint8Array(n);
            grown.set(buf.subarray(0, end));
            buf = grown;
          }
          while (end < n) {
            const got = await conn.read(buf.subarray(end));
            if (got === null) throw new Error("closed");
            end += got;
          }
        }
        start += n;
        return buf.subarray(start - n, start);
      };
      try {
        for (;;) {
          const h = await exact(4);
          const total = ((h[0] << 24) >>> 0) + ((h[1] << 16) | (h[2] << 8) | h[3]);
          const msg = freshBuffer(total);
          let at = 0;
          while (at < total) {
            const l = await exact(2);
            at += recv.decryptInto(await exact((l[0] << 8) | l[1]), msg, at);
          }
          await conn.write(Uint8Array.of(1));
        }
      } catch {
        conn.close();
      }
    })();
  }
})();

console.log(JSON.stringify({
  tcpPeer: tcpPeer.module.identity,
  wsPeer: wsPeer.module.identity,
  strictPeer: strictPeer.module.identity,
  capnwebPort: capnweb.addr.port,
  floorPort: (floorListener.addr as Deno.NetAddr).port,
  floorKey: Array.from(floorKey),
}));

// run until the bench process goes away
while ((await nextLine()) !== undefined) { /* ignore input */ }
floorListener.close();
await Promise.all([tcpPeer.shutdown(), wsPeer.shutdown(), strictPeer.shutdown()]);
await capnweb.shutdown();
Deno.exit(0);

/**
 * The bulk sender: prints its node's record, reads the peer's records (one JSON
 * line: tcpPeer, wsPeer, strictPeer, floorPort, floorKey), prints "ready", then
 * runs one command per line and answers "done": `bulk <peer name> <blobs> <in flight>`
 * (requests carrying a random 4 MiB blob, as net.bench.ts's bulk) or
 * `floor <blobs> <in flight>` (the same bytes over the bare socket pair).
 */
async function runSender(): Promise<never> {
  const BLOB = 4 * 1024 * 1024;
  const sender = new BenchNode("bench-bulk.os", {
    networkingKey: crypto.getRandomValues(new Uint8Array(32)),
    tcpPort: 0,
    wsPort: false,
    listenHostname: "127.0.0.1",
  });
  console.log(JSON.stringify(sender.module.identity));
  const line = await nextLine();
  if (line === undefined) Deno.exit(1);
  const peer = JSON.parse(line);
  for (const id of [peer.tcpPeer, peer.wsPeer, peer.strictPeer]) sender.module.ingest(id);
  await sender.start();
  const small = new TextEncoder().encode("ping");
  const blob = new Uint8Array(BLOB);
  for (let off = 0; off < BLOB; off += 65536) {
    crypto.getRandomValues(blob.subarray(off, off + 65536));
  }

  const bulk = async (to: string, blobs: number, inFlight: number) => {
    let started = 0;
    const lane = async () => {
      while (started < blobs) {
        started++;
        await sender.call(`${to}@echo:bench:sys`, small, blob);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
  };

  // the floor: net's seal over a bare socket, framed as Hyperdrive's TCP messages
  const floorConn = await Deno.connect({ hostname: "127.0.0.1", port: peer.floorPort });
  floorConn.setNoDelay(true);
  const floorSend = new CipherState(Uint8Array.from(peer.floorKey as number[]));
  const chunks = Math.ceil(BLOB / CHUNK_PLAINTEXT);
  const frames: Uint8Array[] = [];
  const acks: (() => void)[] = [];
  (async () => {
    const b = new Uint8Array(64);
    for (;;) {
      const n = await floorConn.read(b).catch(() => null);
      if (n === null) return;
      for (let i = 0; i < n; i++) acks.shift()?.();
    }
  })();
  const writeAll = async (data: Uint8Array) => {
    for (let off = 0; off < data.length;) off += await floorConn.write(data.subarray(off));
  };
  /** Seal the blob into `out` as one message, writing each ~1 MiB slice once sealed (as net). */
  const floorMessage = async (out: Uint8Array) => {
    const view = new DataView(out.buffer);
    view.setUint32(0, BLOB);
    let at = 4;
    let written = 0;
    let sealed = 0;
    for (let off = 0; off < BLOB; off += CHUNK_PLAINTEXT) {
      const n = floorSend.encryptInto(
        blob.subarray(off, Math.min(off + CHUNK_PLAINTEXT, BLOB)),
        out,
        at + 2,
      );
      view.setUint16(at, n);
      at += 2 + n;
      if (++sealed % 16 === 0 && sealed < chunks) {
        await writeAll(out.subarray(written, at));
        written = at;
      }
    }
    await writeAll(out.subarray(written, at));
  };
  const floor = async (blobs: number, inFlight: number) => {
    while (frames.length < inFlight) frames.push(new Uint8Array(4 + chunks * (2 + TAGLEN) + BLOB));
    let started = 0;
    let sending = Promise.resolve();
    const lane = async (frame: Uint8Array) => {
      while (started < blobs) {
        started++;
        const acked = new Promise<void>((resolve) => acks.push(resolve));
        // one message sealed after another (nonce order), as net's outbox does
        const mine = sending.then(() => floorMessage(frame));
        sending = mine;
        await mine;
        await acked;
      }
    };
    await Promise.all(frames.slice(0, inFlight).map(lane));
  };

  console.log("ready");
  for (let cmd = await nextLine(); cmd !== undefined; cmd = await nextLine()) {
    const [what, ...args] = cmd.split(" ");
    if (what === "bulk") await bulk(args[0], Number(args[1]), Number(args[2]));
    else if (what === "floor") await floor(Number(args[0]), Number(args[1]));
    console.log("done");
  }
  floorConn.close();
  await sender.shutdown();
  Deno.exit(0);
}
