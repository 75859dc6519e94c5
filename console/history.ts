// Command history as Hyperdrive's console keeps it: the last 1,000 entered lines
// (an empty line, or one equal to the line before, is not kept), Up/Down walk
// it from the newest (the line being typed comes back after the newest), and
// CTRL+R finds the newest line containing the query, or the depth-th one. Lines
// are appended to <home>/.terminal_history as they are entered; the file is cut
// back to its last 1,000 lines when it has grown past twice that.

export const HISTORY_FILE = ".terminal_history";
export const HISTORY_MAX = 1000;

export class CommandHistory {
  /** newest first */
  #lines: string[] = [];
  #index = 0;
  #working?: string;
  #file?: Deno.FsFile;

  constructor(readonly path: string | undefined, readonly max = HISTORY_MAX) {
    if (!path) return;
    let text = "";
    try {
      text = Deno.readTextFileSync(path);
    } catch { /* first run */ }
    const lines = text.split("\n").filter((l) => l !== "");
    this.#lines = lines.slice(-max).reverse();
    try {
      if (lines.length > 2 * max) {
        Deno.writeTextFileSync(path, lines.slice(-max).join("\n") + "\n");
      }
      this.#file = Deno.openSync(path, { append: true, create: true });
    } catch {
      this.#file = undefined; // history then lives only in memory
    }
  }

  get size(): number {
    return this.#lines.length;
  }

  /** A line was entered. */
  add(line: string): void {
    this.#working = undefined;
    if (line !== "" && line !== this.#lines[0] && !line.includes("\n")) {
      try {
        this.#file?.writeSync(new TextEncoder().encode(line + "\n"));
      } catch { /* a full disk loses history, not the console */ }
      this.#lines.unshift(line);
      if (this.#lines.length > this.max) this.#lines.pop();
    }
    this.#index = 0;
  }

  /** One step back (Up, CTRL+P); `working` is the line being typed. Undefined at the oldest. */
  prev(working: string): string | undefined {
    if (this.#lines.length === 0 || this.#index === this.#lines.length) return undefined;
    this.#index++;
    if (this.#index === 1) this.#working = working;
    return this.#lines[this.#index - 1];
  }

  /** One step forward (Down, CTRL+N): past the newest, the line that was being typed. */
  next(): string | undefined {
    if (this.#lines.length === 0 || this.#index <= 1) {
      this.#index = 0;
      const w = this.#working;
      this.#working = undefined;
      return w;
    }
    this.#index--;
    return this.#lines[this.#index - 1];
  }

  /** The newest line containing `query`, skipping `depth` matches (the oldest if fewer). */
  search(query: string, depth: number): string | undefined {
    if (query === "") return undefined;
    let last: string | undefined;
    let skipped = 0;
    for (const line of this.#lines) {
      if (!line.includes(query)) continue;
      last = line;
      if (skipped === depth) return line;
      skipped++;
    }
    return last;
  }

  close(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }
}
