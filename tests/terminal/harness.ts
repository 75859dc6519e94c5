// Drives tests/terminal/entry.ts (a node with the runtime console): in a real
// pseudo-terminal through tmux (its own server socket per test, so nothing else is
// touched), or with stdin and stdout piped.

const ROOT = new URL("../../", import.meta.url).pathname;
export const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

export const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function entryCommand(home: string, args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", "tests/terminal/entry.ts", home, ...args];
}

/** Waits until `check` returns a value (not undefined/false), polling; throws `what` after `ms`. */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The node's process id, once its console runs; throws with its error if it ended first. */
async function entryPid(home: string, ended: () => Promise<string | undefined>): Promise<number> {
  return await until(
    async () => {
      try {
        const pid = Number(await Deno.readTextFile(`${home}/entry.ready`));
        if (pid > 0) return pid;
      } catch { /* not yet */ }
      const error = await ended();
      if (error !== undefined) throw new Error(`the node did not start: ${error}`);
      return undefined;
    },
    "the node to start",
    60_000,
  );
}

/** A node in tmux: its screen, its cursor, and keys to send it. */
export class TmuxNode {
  readonly socket = `hdterm-${crypto.randomUUID().slice(0, 8)}`;
  #pid = 0;

  private constructor(readonly home: string, readonly cols: number, readonly rows: number) {}

  static async start(
    home: string,
    args: string[] = [],
    size: { cols?: number; rows?: number } = {},
  ): Promise<TmuxNode> {
    const t = new TmuxNode(home, size.cols ?? 140, size.rows ?? 40);
    try {
      await t.launch(args);
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  /** Boots the node (again) in this tmux server. */
  async launch(args: string[] = []): Promise<void> {
    await Deno.remove(`${this.home}/entry.ready`).catch(() => {});
    const cmd = entryCommand(this.home, args).map((a) => `'${a}'`).join(" ");
    await this.tmuxRetried(
      "new-session",
      "-d",
      "-s",
      "n",
      "-x",
      String(this.cols),
      "-y",
      String(this.rows),
      `cd '${ROOT}' && ${cmd} 2>>'${this.home}.stderr'; echo NODE-EXITED; sleep 600`,
    );
    this.#pid = await entryPid(this.home, async () => {
      if (!(await this.all()).includes("NODE-EXITED")) return undefined;
      return await Deno.readTextFile(`${this.home}.stderr`).catch(() => "(no stderr)");
    });
    await this.waitFor(/ > $/m, "the prompt");
  }

  get pid(): number {
    return this.#pid;
  }

  async tmux(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", { args: ["-L", this.socket, ...args] }).output();
    if (!out.success) {
      throw new Error(`tmux ${args[0]}: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    return new TextDecoder().decode(out.stdout);
  }

  /**
   * As tmux(), tried again when a server that is still exiting (its last session just
   * closed) drops the new client: "server exited unexpectedly".
   */
  async tmuxRetried(...args: string[]): Promise<string> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.tmux(...args);
      } catch (e) {
        if (attempt >= 5 || !String(e).includes("server exited unexpectedly")) throw e;
        await sleep(200 * attempt);
      }
    }
  }

  /** Named keys (tmux send-keys names: Enter, Up, C-r, Escape ...). */
  async keys(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", "n", ...keys);
  }

  /** Literal text, as typed. */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "n", "-l", text);
  }

  /** Raw bytes, as a terminal would send them. */
  async bytes(...hex: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", "n", "-H", ...hex);
  }

  /** A bracketed paste (as a terminal pastes into a program that asked for it). */
  async paste(text: string): Promise<void> {
    const file = `${this.home}.paste`;
    await Deno.writeTextFile(file, text);
    await this.tmux("load-buffer", file);
    await this.tmux("paste-buffer", "-p", "-t", "n");
  }

  /** Types a line and presses Enter. */
  async line(text: string): Promise<void> {
    await this.type(text);
    await this.keys("Enter");
  }

  /** The visible screen. */
  async screen(): Promise<string> {
    return await this.tmux("capture-pane", "-p", "-t", "n");
  }

  /** Everything printed so far (scrollback included). */
  async all(): Promise<string> {
    return await this.tmux("capture-pane", "-p", "-J", "-S", "-5000", "-t", "n");
  }

  /** The bottom line (the input line) as shown. */
  async inputLine(): Promise<string> {
    const lines = (await this.screen()).split("\n").filter((l, i, a) =>
      i < a.length - 1 || l !== ""
    );
    const nonEmpty = lines.filter((l) => l.trim() !== "");
    return nonEmpty[nonEmpty.length - 1] ?? "";
  }

  /** The cursor's column (0-based). */
  async cursorX(): Promise<number> {
    return Number((await this.tmux("display", "-p", "-t", "n", "#{cursor_x}")).trim());
  }

  /** Waits until the scrollback matches `re`; returns the match. */
  async waitFor(re: RegExp, what = String(re), ms = 20_000): Promise<RegExpMatchArray> {
    return await until(async () => (await this.all()).match(re) ?? undefined, what, ms);
  }

  /** Waits until the visible screen matches `re`. */
  async waitForScreen(re: RegExp, what = String(re), ms = 20_000): Promise<RegExpMatchArray> {
    return await until(async () => (await this.screen()).match(re) ?? undefined, what, ms);
  }

  /** Waits for the node process to end, then clears the screen for the next boot. */
  async waitExit(): Promise<void> {
    await this.waitFor(/NODE-EXITED/, "the node to exit", 30_000);
  }

  /** Ends the session (the node first, if it still runs). */
  async stop(): Promise<void> {
    try {
      if (this.#pid) Deno.kill(this.#pid, "SIGTERM");
    } catch { /* already gone */ }
    try {
      await until(async () => (await this.all()).includes("NODE-EXITED"), "exit", 15_000);
    } catch { /* killed with the server below */ }
    await this.tmux("kill-server").catch(() => {});
    // the server's socket file stays behind otherwise
    const dir = Deno.env.get("TMUX_TMPDIR") ?? "/tmp";
    await Deno.remove(`${dir}/tmux-${Deno.uid()}/${this.socket}`).catch(() => {});
  }

  /**
   * Kills the session so the node can boot again under this socket. Its server exits
   * with its last session; wait until it has, so the next launch starts a fresh one.
   */
  async closeWindow(): Promise<void> {
    await this.tmux("kill-session", "-t", "n").catch(() => {});
    await until(
      async () => !(await this.tmux("list-sessions").then(() => true, () => false)),
      "the tmux server to exit",
      5_000,
    ).catch(() => {});
  }
}

/** A node whose console reads piped stdin and writes to a pipe. */
export class PipedNode {
  #out = "";
  #err = "";
  #exited = false;
  readonly #proc: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #done: Promise<Deno.CommandStatus>;

  private constructor(readonly home: string, args: string[]) {
    const [cmd, ...rest] = entryCommand(home, args);
    this.#proc = new Deno.Command(cmd, {
      args: rest,
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const errors = new TextDecoder();
    void this.#proc.stderr.pipeTo(
      new WritableStream({ write: (c) => void (this.#err += errors.decode(c, { stream: true })) }),
    );
    this.#stdin = this.#proc.stdin.getWriter();
    const dec = new TextDecoder();
    void this.#proc.stdout.pipeTo(
      new WritableStream({ write: (c) => void (this.#out += dec.decode(c, { stream: true })) }),
    );
    this.#done = this.#proc.status;
    void this.#done.then(() => this.#exited = true);
  }

  static async start(home: string, args: string[] = []): Promise<PipedNode> {
    await Deno.remove(`${home}/entry.ready`).catch(() => {});
    const n = new PipedNode(home, args);
    await entryPid(home, () => Promise.resolve(n.#exited ? n.#err || "(no stderr)" : undefined));
    return n;
  }

  get output(): string {
    return this.#out;
  }

  /** Output after `mark` (an offset from `output.length`). */
  since(mark: number): string {
    return this.#out.slice(mark);
  }

  async write(bytes: Uint8Array | string): Promise<void> {
    await this.#stdin.write(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
  }

  /** Sends a command line; resolves with the output offset before it. */
  async line(text: string): Promise<number> {
    const mark = this.#out.length;
    await this.write(text + "\n");
    return mark;
  }

  /** Runs a command and waits for `re` in what follows it. */
  async run(text: string, re: RegExp, ms = 20_000): Promise<string> {
    const mark = await this.line(text);
    // what follows the console's echo of the command
    const after = () => {
      const out = this.since(mark);
      const echo = out.indexOf(` > ${text}\n`);
      return echo < 0 ? "" : out.slice(echo + text.length + 4);
    };
    await until(() => re.test(after()), `${JSON.stringify(text)} -> ${re}`, ms);
    return this.since(mark);
  }

  async waitFor(re: RegExp, ms = 20_000, from = 0): Promise<void> {
    await until(() => re.test(this.#out.slice(from)), String(re), ms);
  }

  /** Closes stdin (the node keeps running). */
  async closeInput(): Promise<void> {
    await this.#stdin.close().catch(() => {});
  }

  async signal(sig: Deno.Signal): Promise<Deno.CommandStatus> {
    try {
      this.#proc.kill(sig);
    } catch { /* gone */ }
    return await this.#done;
  }

  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.signal("SIGTERM");
  }
}

/** The scripts' printouts in `text`: what follows "terminal:sys: " up to the next print. */
export function strip(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07]*\x07/g, "");
}

/** Asserts `actual` contains `expected`, showing both (escapes visible) when not. */
export function assertStringIncludes(actual: string, expected: string): void {
  if (!actual.includes(expected)) {
    throw new Error(
      `expected to find\n  ${JSON.stringify(expected)}\nin\n  ${JSON.stringify(actual)}`,
    );
  }
}
