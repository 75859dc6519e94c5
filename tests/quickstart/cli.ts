// Running the verbs as `deno task <verb>` runs them: kit/main.ts in a subprocess, relative paths
// from INIT_CWD (the directory the task was typed in).

const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = `${ROOT}kit/main.ts`;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno task <verb> <args>` typed in `cwd`, to completion. */
export async function kit(cwd: string, args: string[]): Promise<Output> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    env: { INIT_CWD: cwd },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export interface FakeNodeProcess {
  /** What it printed so far. */
  output(): string;
  /** A line to its terminal (the node's console reads piped stdin lines as commands). */
  type(line: string): Promise<void>;
  /** SIGTERM, then its exit code once it (and what it started) stopped. */
  stop(): Promise<number>;
  status: Promise<Deno.CommandStatus>;
}

/** `deno task fake-node <args>` in `cwd`, running until stop(). */
export function fakeNode(cwd: string, args: string[]): FakeNodeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "fake-node", ...args],
    cwd: ROOT,
    env: { INIT_CWD: cwd },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (Deno.env.get("QS_TEST_VERBOSE")) Deno.stderr.writeSync(new TextEncoder().encode(chunk));
    }
  };
  const done = Promise.all([read(child.stdout), read(child.stderr)]);
  const writer = child.stdin.getWriter();
  return {
    output: () => text,
    type: (line) => writer.write(new TextEncoder().encode(`${line}\n`)),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const s = await child.status;
      await writer.close().catch(() => {});
      await done;
      return s.code;
    },
    status: child.status,
  };
}

/** Polls until GET <url>/our answers, resolving with the node's name. */
export async function waitForOur(
  url: string,
  child: FakeNodeProcess,
  ms = 60_000,
): Promise<string> {
  const end = Date.now() + ms;
  let exited = false;
  child.status.then(() => (exited = true));
  for (;;) {
    try {
      const res = await fetch(`${url}/our`);
      const text = await res.text();
      if (res.ok) return text;
    } catch { /* not yet */ }
    if (exited) throw new Error(`fake-node exited:\n${child.output()}`);
    if (Date.now() > end) throw new Error(`${url}/our did not answer:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
