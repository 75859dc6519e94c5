// The Docker image's numbers: its size (and what the layers above the base add), and the time
// from `podman run` to the node's first HTTP answer through a published port, on a fresh home
// and on a home that already holds the node. Runs with podman (../shared/docker/podman-setup.sh).
//
//   ./node_modules/deno/deno run -A tests/docker/bench.ts [--runs N] [--no-build]

import { parseArgs } from "node:util";
import {
  BASE,
  buildImage,
  freePort,
  IMAGE_UID,
  imageId,
  podman,
  podmanAvailable,
  run,
  waitForHttp,
} from "./podman.ts";

const IMAGE = "localhost/hyperdeno:bench";
const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, "no-build": { type: "boolean" } },
});
const RUNS = Number(values.runs);

if (!(await podmanAvailable())) {
  console.error("podman is not installed: bash ../shared/docker/podman-setup.sh");
  Deno.exit(1);
}

async function sizeOf(image: string): Promise<number> {
  return Number((await podman(["image", "inspect", "--format", "{{.Size}}", image])).trim());
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)];
  return `median ${median.toFixed(0)} ms (min ${s[0].toFixed(0)}, max ${s.at(-1)!.toFixed(0)})`;
}

if (!values["no-build"] || !(await imageId(IMAGE))) {
  const { seconds } = await buildImage(IMAGE);
  console.log(`build: ${seconds.toFixed(1)} s`);
}
const size = await sizeOf(IMAGE);
const base = await sizeOf(BASE);
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
console.log(`image: ${mb(size)} (base ${BASE} ${mb(base)}, hyperdeno's layers ${mb(size - base)})`);

/** `podman run` of the node; resolves with ms to the first 200 from /our, and the name. */
async function boot(home: string, extra: string[]): Promise<{ ms: number; name: string }> {
  const name = `hyperdeno-bench-${crypto.randomUUID().slice(0, 8)}`;
  const port = freePort();
  const t0 = performance.now();
  await podman([
    "run",
    "-d",
    "--pull=never",
    "--name",
    name,
    "-p",
    `127.0.0.1:${port}:8080`,
    "-v",
    `${home}:/hyperdrive-home`,
    IMAGE,
    "/hyperdrive-home",
    "--detached",
    "--password",
    "bench",
    ...extra,
  ]);
  await waitForHttp(`http://127.0.0.1:${port}/our`, 60_000);
  return { ms: performance.now() - t0, name };
}

const root = await Deno.makeTempDir({ prefix: "hyperdeno-docker-bench-" });
const fresh: number[] = [];
const again: number[] = [];
const stops: number[] = [];
const bare: number[] = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await podman(["run", "--rm", "--pull=never", "--entrypoint", "true", IMAGE]);
    bare.push(performance.now() - t0);

    const home = `${root}/home${i}`;
    await Deno.mkdir(home);
    await Deno.chown(home, IMAGE_UID, IMAGE_UID);
    const first = await boot(home, ["--fake-node-name", "bench.dev"]);
    fresh.push(first.ms);
    const s0 = performance.now();
    await podman(["stop", "-t", "30", first.name]);
    stops.push(performance.now() - s0);
    await run("podman", ["rm", "-f", first.name]);
    const second = await boot(home, []);
    again.push(second.ms);
    await run("podman", ["rm", "-f", "-t", "10", second.name]);
  }
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
console.log(`runs: ${RUNS}`);
console.log(`podman run of \`true\` (the container alone): ${stats(bare)}`);
console.log(`start to first HTTP answer, fresh home: ${stats(fresh)}`);
console.log(`start to first HTTP answer, existing home: ${stats(again)}`);
console.log(`podman stop (SIGTERM to exit): ${stats(stops)}`);
