// HTTP throughput: a GET answered by a process (http-server -> kernel ->
// Worker -> kernel -> http-server) and a cached GET (http-server alone),
// against a raw Deno.serve hello-world in the same process and run; plus
// WebSocket push messages/s from a process to a client.
//   deno run -A benches/http_throughput.ts [--conns=32] [--seconds=5]
// The load generator (benches/http_load_client.ts) runs as a separate process.

import { bootHttpNode, WEBAPP } from "../tests/http/node_helpers.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const conns = args.conns ?? "32";
const seconds = args.seconds ?? "5";
const CLIENT = new URL("./http_load_client.ts", import.meta.url).pathname;

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
try {
  const targets: [string, number, string][] = [
    ["raw Deno.serve hello-world", raw.addr.port, "/"],
    ["http-server cached GET (no process)", node.port, `/${WEBAPP}/static.txt`],
    ["GET answered by a process (kernel + Worker)", node.port, `/${WEBAPP}/api`],
  ];
  const rows: string[] = [];
  let rawRps = 0;
  for (const [name, port, path] of targets) {
    const r = await load([
      "--mode=http",
      `--port=${port}`,
      `--path=${path}`,
      `--conns=${conns}`,
      `--seconds=${seconds}`,
    ]);
    if (rawRps === 0) rawRps = r.rps;
    const ok = (r.statuses as unknown as Record<string, number>)["200"] ?? 0;
    if (ok !== r.requests) {
      throw new Error(`${name}: non-200 answers ${JSON.stringify(r.statuses)}`);
    }
    rows.push(
      `| ${name} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${
        ((100 * r.rps) / rawRps).toFixed(0)
      }% |`,
    );
  }
  const ws = await load([
    "--mode=ws",
    `--url=ws://127.0.0.1:${node.port}/${WEBAPP}/ws`,
    "--count=20000",
  ]);
  console.log(`\n${conns} keep-alive connections, ${seconds} s per target, loopback\n`);
  console.log("| target | req/s | p50 ms | p99 ms | vs raw |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  console.log(
    `\nWebSocket pushes process -> client: ${Math.round(ws.msgsPerSec)} msgs/s (${ws.messages} in ${
      ws.ms.toFixed(0)
    } ms)`,
  );
} finally {
  await raw.shutdown();
  await node.stop();
  await Deno.remove(home, { recursive: true }).catch(() => {});
}
