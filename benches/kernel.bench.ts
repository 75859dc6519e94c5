// Kernel message path: request->response round trips between two processes
// (components and TS modules), against a bare Worker postMessage round trip
// measured in the same run; and one-way messages into a process.
//
//   npx deno task bench   (or: deno bench -A benches/kernel.bench.ts)

import { bootQuietNode } from "./quiet_node.ts";
import { makePackage } from "../tests/kernel/helpers.ts";

const ROUNDS = 200;
const ONE_WAY = 2000;

const root = await Deno.makeTempDir({ prefix: "hyperdeno-bench-" });
const dir = await makePackage(root, {
  name: "bench",
  processes: [
    { name: "ca" },
    { name: "cb" },
    { name: "ma", kind: "module" },
    { name: "mb", kind: "module" },
  ],
});
const node = await bootQuietNode(`${root}/home`);
await node.installPackage(dir);
const enc = new TextEncoder();
const ask = (target: string, cmd: unknown) =>
  node.request(target, JSON.stringify(cmd), { timeoutSeconds: 60 });
// warm up every process (JIT, first-message paths)
for (const p of ["ca", "cb", "ma", "mb"]) await ask(`our@${p}:bench:test.os`, { op: "our" });

// the baseline: a Worker that echoes every message straight back
const echoUrl = URL.createObjectURL(
  new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], { type: "text/javascript" }),
);
const echo = new Worker(echoUrl, { type: "module" });
function workerRoundTrips(n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    echo.onmessage = () => {
      if (--left === 0) resolve();
      else echo.postMessage(payload);
    };
    echo.postMessage(payload);
  });
}
const payload = { body: enc.encode(JSON.stringify({ op: "echo" })) };
await workerRoundTrips(100);

Deno.bench({
  name: `bare Worker postMessage round trip x${ROUNDS}`,
  group: "rtt",
  baseline: true,
  async fn() {
    await workerRoundTrips(ROUNDS);
  },
});

Deno.bench({
  name: `component -> component request/response x${ROUNDS}`,
  group: "rtt",
  async fn() {
    await ask("our@ca:bench:test.os", {
      op: "ask-many",
      target: "fake.dev@cb:bench:test.os",
      n: ROUNDS,
    });
  },
});

Deno.bench({
  name: `TS module -> TS module request/response x${ROUNDS}`,
  group: "rtt",
  async fn() {
    await ask("our@ma:bench:test.os", {
      op: "ask-many",
      target: "fake.dev@mb:bench:test.os",
      n: ROUNDS,
    });
  },
});

async function oneWay(target: string) {
  for (let i = 0; i < ONE_WAY; i++) await node.send(target, "tick");
  // requests are delivered in order: when count answers, every tick was received
  await ask(target, { op: "count" });
}

Deno.bench({
  name: `bare Worker postMessage one-way x${ONE_WAY}`,
  group: "one-way",
  baseline: true,
  async fn() {
    await new Promise<void>((resolve) => {
      let got = 0;
      echo.onmessage = () => {
        if (++got === ONE_WAY) resolve();
      };
      for (let i = 0; i < ONE_WAY; i++) echo.postMessage(payload);
    });
  },
});

Deno.bench({
  name: `one-way requests into a component x${ONE_WAY}`,
  group: "one-way",
  async fn() {
    await oneWay("our@cb:bench:test.os");
  },
});

Deno.bench({
  name: `one-way requests into a TS module x${ONE_WAY}`,
  group: "one-way",
  async fn() {
    await oneWay("our@mb:bench:test.os");
  },
});

// deno bench exits when the last bench is done: Workers and the node's
// sockets end with the process, and the temp home stays behind in /tmp.
