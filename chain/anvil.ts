// Runs anvil from npm (@foundry-rs/anvil): its binary comes in the platform package npm installs
// beside it (@foundry-rs/anvil-<os>-<arch>/bin/anvil); HYPERDENO_ANVIL overrides the path.

const PLATFORM_PACKAGES: Record<string, string> = {
  "linux-x86_64": "anvil-linux-amd64",
  "linux-aarch64": "anvil-linux-arm64",
  "darwin-x86_64": "anvil-darwin-amd64",
  "darwin-aarch64": "anvil-darwin-arm64",
  "windows-x86_64": "anvil-win32-amd64",
};

/** The anvil binary's path. */
export function anvilBinary(): string {
  const override = Deno.env.get("HYPERDENO_ANVIL");
  if (override) return override;
  const pkg = PLATFORM_PACKAGES[`${Deno.build.os}-${Deno.build.arch}`];
  if (!pkg) throw new Error(`no @foundry-rs/anvil build for ${Deno.build.os}-${Deno.build.arch}`);
  const exe = Deno.build.os === "windows" ? "anvil.exe" : "anvil";
  const path = new URL(`../node_modules/@foundry-rs/${pkg}/bin/${exe}`, import.meta.url).pathname;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(
      `anvil not found at ${path}: run npm install (it comes with @foundry-rs/anvil)`,
    );
  }
  return path;
}

export interface AnvilOptions {
  /** 0 picks a free port (the default is 8545) */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** anvil's own output, line by line (default: dropped) */
  output?: (line: string) => void;
  /** extra anvil arguments */
  args?: string[];
  /** how long anvil may take to answer JSON-RPC (default 30 s) */
  timeoutMs?: number;
}

export interface Anvil {
  /** http://host:port */
  url: string;
  /** ws://host:port (anvil serves both on one port) */
  wsUrl: string;
  host: string;
  port: number;
  pid: number;
  /** resolves when anvil exits, for whatever reason */
  exited: Promise<Deno.CommandStatus>;
  /** SIGTERM, then SIGKILL after 5 s; resolves once anvil is gone */
  stop(): Promise<void>;
}

/** One JSON-RPC call; throws on transport errors and on an error answer. */
export async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

/** Whether something at `url` answers eth_chainId. */
export async function answersJsonRpc(url: string): Promise<boolean> {
  try {
    await rpc(url, "eth_chainId");
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts anvil (chain id 31337) and resolves once it answers JSON-RPC. */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const host = options.host ?? "127.0.0.1";
  const requested = options.port ?? 8545;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (requested !== 0 && await answersJsonRpc(`http://${host}:${requested}`)) {
    throw new Error(
      `port ${requested} on ${host} already answers JSON-RPC (another chain is running there)`,
    );
  }
  const binary = anvilBinary();
  const child = new Deno.Command(binary, {
    args: [
      "--host",
      host,
      "--port",
      String(requested),
      "--chain-id",
      "31337",
      ...(options.args ?? []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const exited = child.status;

  // anvil prints "Listening on <host>:<port>" once bound; keep the last lines for errors
  const tail: string[] = [];
  let listening: (port: number) => void = () => {};
  const bound = new Promise<number>((r) => (listening = r));
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    options.output?.(line);
    const m = /Listening on .*:(\d+)\s*$/.exec(line);
    if (m) listening(Number(m[1]));
  };
  const readers = Promise.all([readLines(child.stdout, keep), readLines(child.stderr, keep)]);

  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
    await readers;
  };

  const failure = (why: string) =>
    new Error(`anvil (${binary}) ${why}${tail.length ? `:\n  ${tail.join("\n  ")}` : ""}`);
  const died = exited.then(async (s) => {
    await readers; // its last words
    throw failure(`exited with code ${s.code} before listening`);
  });
  died.catch(() => {}); // only raced below
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const port = await Promise.race([
      bound,
      died,
      new Promise<never>((_, reject) => {
        deadline = setTimeout(
          () => reject(failure(`did not listen within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    const url = `http://${host}:${port}`;
    const until = Date.now() + timeoutMs;
    while (!(await answersJsonRpc(url))) {
      if (Date.now() > until) throw failure(`did not answer JSON-RPC within ${timeoutMs} ms`);
      await sleep(50);
    }
    return { url, wsUrl: `ws://${host}:${port}`, host, port, pid: child.pid, exited, stop };
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(deadline);
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line.replace(/\r$/, ""));
  }
  if (rest) onLine(rest);
}
