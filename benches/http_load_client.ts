// Load generator for benches/http_throughput.ts, run as its own process so it
// does not share an event loop with the server under test.
//   http: N keep-alive HTTP/1.1 connections, one request in flight each, for T s
//         (--cookie=name=value sends a Cookie header with each)
//   ws:   one WebSocket; asks the process to push M messages, times their arrival
// Prints one JSON line with the results.

// --name=value, split at the first '=' (a cookie's value has its own)
const args = Object.fromEntries(
  Deno.args.map((a) => {
    const kv = a.replace(/^--/, "");
    const eq = kv.indexOf("=");
    return eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)];
  }),
);
const enc = new TextEncoder();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function indexOfCrlfCrlf(b: Uint8Array, end: number): number {
  for (let i = 0; i + 3 < end; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

async function httpConnection(
  port: number,
  path: string,
  until: number,
  latencies: number[],
  statuses: Map<number, number>,
): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const cookie = args.cookie ? `Cookie: ${args.cookie}\r\n` : "";
  const request = enc.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${cookie}\r\n`);
  let buf = new Uint8Array(64 * 1024);
  try {
    while (performance.now() < until) {
      const t0 = performance.now();
      await conn.write(request);
      let have = 0;
      let headerEnd = -1;
      let total = -1;
      while (total < 0 || have < total) {
        if (have === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = await conn.read(buf.subarray(have));
        if (n === null) throw new Error("connection closed");
        have += n;
        if (headerEnd < 0) {
          headerEnd = indexOfCrlfCrlf(buf, have);
          if (headerEnd >= 0) {
            const head = new TextDecoder().decode(buf.subarray(0, headerEnd)).toLowerCase();
            const m = head.match(/content-length:\s*(\d+)/);
            if (!m) throw new Error("response without content-length");
            total = headerEnd + 4 + Number(m[1]);
            const status = Number(head.slice(9, 12));
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }
      }
      latencies.push(performance.now() - t0);
    }
  } finally {
    conn.close();
  }
}

async function http() {
  const port = Number(args.port);
  const path = args.path ?? "/";
  const conns = Number(args.conns ?? 32);
  const seconds = Number(args.seconds ?? 5);
  const warmup = Number(args.warmup ?? 1);
  const statuses = new Map<number, number>();
  // warm up JITs and connection setup, then measure
  await Promise.all(
    Array.from(
      { length: conns },
      () => httpConnection(port, path, performance.now() + warmup * 1000, [], statuses),
    ),
  );
  statuses.clear();
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: conns },
      () => httpConnection(port, path, start + seconds * 1000, latencies, statuses),
    ),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    statuses: Object.fromEntries(statuses),
  }));
}

async function ws() {
  const count = Number(args.count ?? 20000);
  const socket = new WebSocket(args.url);
  let received = 0;
  let start = 0;
  const done = new Promise<number>((resolve) => {
    socket.onmessage = (e) => {
      if (e.data === "welcome") {
        start = performance.now();
        socket.send(`blast ${count}`);
        return;
      }
      received++;
      if (received === count) resolve(performance.now() - start);
    };
  });
  const ms = await done;
  socket.close();
  console.log(JSON.stringify({ messages: count, msgsPerSec: count / (ms / 1000), ms }));
}

if (args.mode === "ws") await ws();
else await http();
