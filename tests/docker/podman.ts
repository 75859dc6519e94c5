// Building and running the project's image with podman, for tests/docker/docker.test.ts and
// tests/docker/bench.ts. Every command is bounded in time; containers and images are named
// by the caller and removed by it.

import { stage } from "./stage.ts";

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** The base image: CI's podman setup (../shared/docker/podman-setup.sh) makes this one. */
export const BASE = Deno.env.get("HYPERDENO_DOCKER_BASE") ?? "localhost/debian:bookworm";
/** The image's user (Dockerfile): a bind-mounted home must belong to it. */
export const IMAGE_UID = 1000;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, killed after `timeoutMs`; `input` is written to its stdin. */
export async function run(
  cmd: string,
  args: string[],
  { timeoutMs = 60_000, input }: { timeoutMs?: number; input?: string } = {},
): Promise<Output> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already ended */ }
  }, timeoutMs);
  try {
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** `podman <args>`; throws with its stderr unless it exits 0. */
export async function podman(
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const out = await run("podman", args, opts);
  if (out.code !== 0) {
    throw new Error(`podman ${args.join(" ")} exited ${out.code}: ${out.stderr.trim()}`);
  }
  return out.stdout;
}

/** Whether podman runs here (CI installs it with ../shared/docker/podman-setup.sh). */
export async function podmanAvailable(): Promise<boolean> {
  try {
    return (await run("podman", ["--version"], { timeoutMs: 10_000 })).code === 0;
  } catch {
    return false; // not installed
  }
}

/**
 * A directory to build from. After `npm ci` that is the checkout itself (.dockerignore picks
 * what goes in). A checkout whose node_modules is a symlink (worktrees sharing one install)
 * cannot be: the builder would copy the link, so the runtime tree is staged (stage.ts).
 */
export async function buildContext(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const nm = await Deno.lstat(`${ROOT}/node_modules`);
  if (!nm.isSymlink) return { dir: ROOT, cleanup: async () => {} };
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-docker-context-" });
  await stage(dir);
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

/** The image's id, or undefined when there is none of that name. */
export async function imageId(tag: string): Promise<string | undefined> {
  const out = await run("podman", ["image", "inspect", "--format", "{{.Id}}", tag], {
    timeoutMs: 30_000,
  });
  return out.code === 0 ? out.stdout.trim() : undefined;
}

/**
 * Builds the Dockerfile into `tag` from `buildContext()`; then removes the image `tag` named
 * before and the build stage's cached images (each build of new code leaves one ~200 MB).
 */
export async function buildImage(tag: string, timeoutMs = 600_000): Promise<{ seconds: number }> {
  const before = await imageId(tag);
  const ctx = await buildContext();
  const t0 = performance.now();
  try {
    await podman(
      [
        "build",
        "-q",
        "--build-arg",
        `BASE=${BASE}`,
        "-f",
        `${ROOT}/Dockerfile`,
        "-t",
        tag,
        ctx.dir,
      ],
      { timeoutMs },
    );
  } finally {
    await ctx.cleanup();
  }
  const seconds = (performance.now() - t0) / 1000;
  const after = await imageId(tag);
  if (before && before !== after) await run("podman", ["rmi", before], { timeoutMs: 60_000 });
  const stale = await run("podman", [
    "images",
    "-q",
    "--filter",
    "dangling=true",
    "--filter",
    "label=org.hyperdeno.stage=app",
  ], { timeoutMs: 30_000 });
  const ids = stale.stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await run("podman", ["rmi", ...ids], { timeoutMs: 60_000 });
  return { seconds };
}

/** A TCP port free on the loopback interface now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Polls `url` until it answers 200 (and, given `want`, a body `want` accepts); resolves with
 * the milliseconds that took.
 */
export async function waitForHttp(
  url: string,
  timeoutMs: number,
  want?: (body: string) => boolean,
): Promise<number> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < timeoutMs) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await r.text();
      if (r.status === 200 && (!want || want(body))) return performance.now() - t0;
      last = `status ${r.status}: ${body.slice(0, 80)}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url} did not answer as expected within ${timeoutMs} ms (last: ${last})`);
}
