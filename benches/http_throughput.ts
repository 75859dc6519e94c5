// HTTP throughput: a GET answered by a process (http-server -> kernel ->
// Worker -> kernel -> http-server), the same with a login cookie to check, and
// a cached GET (http-server alone), against a raw Deno.serve hello-world in the
// same process and run; plus WebSocket push messages/s from a process to a client.
//   deno run -A benches/http_throughput.ts [--conns=32] [--seconds=5] [--rounds=1] [--no-ws]
// The load generator (benches/http_load_client.ts) runs as a separate process.

import { bootHttpNode, NODE_NAME, WEBAPP } from "../tests/http/node_helpers.ts";
import { authCookieName, generateJwt, importJwtKey } from "../modules/http_server/mod.ts";
import { echoWorker } from "./echo_worker.ts";
import { threadCpu } from "./thread_cpu.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => {
    const kv = a.replace(/^--/, "");
    const eq = kv.indexOf("=");
    return eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)];
  }),
);
const conns = args.conns ?? "32";
const seconds = args.seconds ?? "5";
const rounds = Math.max(1, Number(args.rounds ?? 1));
const CLIENT = new URL("./http_load_client.ts", import.meta.url).pathname;

/** CPU microseconds so far of the main thread (on the node: the kernel, http-server, routing)
 * and of all others (process and echo Workers, V8's GC helpers); undefined without /proc. */
function threadCpuUs(): { main: number; others: number } | undefined {
  const threads = threadCpu();
  if (threads.length === 0) return undefined;
  let main = 0;
  let others = 0;
  for (const t of threads) {
    if (t.main) main += t.us;
    else others += t.us;
  }
  return { main, others };
}

async function load(extra: string[]): Promise<Record<string, number & Record<string, number>>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, ...extra],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`load client failed: ${extra.join(" ")}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

const home = await Deno.makeTempDir({ prefix: "hyperdeno-bench-" });
const node = await bootHttpNode(home, { password: "bench password" });
const raw = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("hello"),
);
// The floor of any design that runs the app off the server's thread: the same raw
// handler, but each request waits for one round trip to a bare echo Worker.
const echo = echoWorker();
const waiting: (() => void)[] = [];
echo.onmessage = () => waiting.shift()!();
const viaWorker = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () =>
    new Promise<Response>((resolve) => {
      waiting.push(() => resolve(new Response("hello")));
      echo.postMessage(1);
    }),
);
// The floor of any runtime carrying Hyperware's HTTP messages to an app off the server's
// thread: the same round trip, but carrying what the protocol says travels (serde JSON of
// IncomingHttpRequest out; HttpResponse's JSON and the body back), each side parsing and
// building it as the webapp fixture and http-server must. No routing, no kernel, no
// capabilities, no process API, and leaner than the protocol: strings cross, not bytes
// (a process gets and gives bytes). What is left of the process GET's cost once the
// protocol's own work is paid.
const proto = new Worker(
  URL.createObjectURL(
    new Blob([
      `const HEAD = JSON.stringify({ status: 200, headers: { "Content-Type": "application/json" } });
self.onmessage = (e) => {
  const incoming = JSON.parse(e.data).Http;
  new URL(incoming.url).pathname;
  self.postMessage([HEAD, JSON.stringify({
    method: incoming.method,
    bound_path: incoming.bound_path,
    query: incoming.query_params,
    body: "",
  })]);
};`,
    ], { type: "application/javascript" }),
  ),
  { type: "module" },
);
const protoWaiting: ((r: Response) => void)[] = [];
proto.onmessage = (e: MessageEvent<[string, string]>) => {
  const head = JSON.parse(e.data[0]);
  protoWaiting.shift()!(new Response(e.data[1], { status: head.status, headers: head.headers }));
};
const viaProtocol = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (req, info) => {
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    const addr = info.remoteAddr as Deno.NetAddr;
    const q = req.url.indexOf("?");
    const json = JSON.stringify({
      Http: {
        source_socket_addr: `${addr.hostname}:${addr.port}`,
        method: req.method,
        url: req.url,
        bound_path: "/api",
        headers,
        url_params: {},
        query_params: q < 0 ? {} : Object.fromEntries(new URLSearchParams(req.url.slice(q + 1))),
      },
    });
    return new Promise<Response>((resolve) => {
      protoWaiting.push(resolve);
      proto.postMessage(json);
    });
  },
);
try {
  const token = await generateJwt(await importJwtKey(node.jwtSecret), NODE_NAME);
  const cookie = `${authCookieName(NODE_NAME)}=${token}`;
  const targets: [string, number, string, string?][] = [
    ["raw Deno.serve hello-world", raw.addr.port, "/"],
    ["raw Deno.serve + one bare Worker round trip (floor)", viaWorker.addr.port, "/"],
    [
      "raw Deno.serve + one bare Worker round trip carrying Hyperware's HTTP JSON (protocol floor)",
      viaProtocol.addr.port,
      "/webapp:webapp:test.os/api",
    ],
    ["http-server cached GET (no process)", node.port, `/${WEBAPP}/static.txt`],
    ["GET answered by a process (kernel + Worker)", node.port, `/${WEBAPP}/api`],
    ["authenticated GET answered by a process", node.port, `/${WEBAPP}`, cookie],
  ];
  // each round runs every target in turn; a row shows the medians over the rounds (its
  // "vs raw" the median of the per-round ratios), which steadies the shared machine's swings
  type Sample = { rps: number; p50: number; p99: number; main: number; others: number };
  const samples = new Map<string, Sample[]>(targets.map(([name]) => [name, []]));
  const ratios = new Map<string, number[]>(targets.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    let rawRps = 0;
    for (const [name, port, path, cookie] of targets) {
      const cpu0 = threadCpuUs();
      const r = await load([
        "--mode=http",
        `--port=${port}`,
        `--path=${path}`,
        `--conns=${conns}`,
        `--seconds=${seconds}`,
        ...(cookie ? [`--cookie=${cookie}`] : []),
      ]);
      const cpu1 = threadCpuUs();
      if (rawRps === 0) rawRps = r.rps;
      const ok = (r.statuses as unknown as Record<string, number>)["200"] ?? 0;
      if (ok !== r.requests) {
        throw new Error(`${name}: non-200 answers ${JSON.stringify(r.statuses)}`);
      }
      const perReq = (k: "main" | "others") =>
        cpu0 && cpu1 ? (cpu1[k] - cpu0[k]) / r.requests : NaN;
      samples.get(name)!.push({
        rps: r.rps,
        p50: r.p50,
        p99: r.p99,
        main: perReq("main"),
        others: perReq("others"),
      });
      ratios.get(name)!.push(r.rps / rawRps);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const rows = targets.map(([name]) => {
    const xs = samples.get(name)!;
    const m = (k: keyof Sample) => median(xs.map((x) => x[k]));
    const cpu = (k: "main" | "others") => Number.isNaN(m(k)) ? "?" : m(k).toFixed(1);
    return `| ${name} | ${Math.round(m("rps"))} | ${m("p50").toFixed(2)} | ${
      m("p99").toFixed(2)
    } | ${(100 * median(ratios.get(name)!)).toFixed(0)}% | ${cpu("main")} | ${cpu("others")} |`;
  });
  const ws = "no-ws" in args ? undefined : await load([
    "--mode=ws",
    `--url=ws://127.0.0.1:${node.port}/${WEBAPP}/ws`,
    "--count=20000",
  ]);
  console.log(
    `\n${conns} keep-alive connections, ${seconds} s per target, ${rounds} round(s) ` +
      "(medians), loopback\n",
  );
  console.log(
    "| target | req/s | p50 ms | p99 ms | vs raw | main thread CPU us/req | other threads CPU us/req |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  if (ws) {
    console.log(
      `\nWebSocket pushes process -> client: ${
        Math.round(ws.msgsPerSec)
      } msgs/s (${ws.messages} in ${ws.ms.toFixed(0)} ms)`,
    );
  }
} finally {
  await raw.shutdown();
  await viaWorker.shutdown();
  await viaProtocol.shutdown();
  echo.terminate();
  proto.terminate();
  await node.stop();
  await Deno.remove(home, { recursive: true }).catch(() => {});
}
