// <home>/.terminal_logs, as Hyperdrive's console writes it: every print (all
// levels, before any verbosity filter) as "[<RFC 2822 time>] <text>", into
// files named by when they were opened (YYYY-MM-DD-HH:MM:SS.log, local time).
// Rotation: a file holds at most max-log-size / number-log-files bytes; then a
// new one starts and the oldest beyond number-log-files is removed. A
// max-log-size of 0 keeps one growing file. Lines are buffered and written
// every 100 ms (and at close), so printing never waits for the disk.

export const LOG_DIR = ".terminal_logs";
/** Hyperdrive's defaults: 16 MB over 4 files. */
export const DEFAULT_MAX_LOG_SIZE = 16_000_000;
export const DEFAULT_NUMBER_LOG_FILES = 4;
const FLUSH_MS = 100;

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n: number) => String(n).padStart(2, "0");

/** chrono's to_rfc2822 in local time, e.g. "Tue, 1 Jul 2003 10:52:37 +0200". */
export function rfc2822(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${
    p2(d.getHours())
  }:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}

/** A log file's name: when it was opened, local time. */
export function logFileName(d: Date): string {
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}-${p2(d.getHours())}:${
    p2(d.getMinutes())
  }:${p2(d.getSeconds())}.log`;
}

export interface LoggerOptions {
  /** bytes over all files; 0: no limit, one file */
  maxLogSize?: number;
  numberLogFiles?: number;
}

export class Logger {
  readonly dir: string;
  readonly #perFile: number;
  readonly #files: number;
  #file?: Deno.FsFile;
  #path = "";
  #size = 0;
  #pending: string[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #failed = false;
  /** files this logger opened, oldest first (orders files whose mtimes tie) */
  readonly #opened: string[] = [];
  /** told once if the log cannot be written */
  onError: (e: unknown) => void = () => {};

  constructor(home: string, opts: LoggerOptions = {}) {
    this.dir = `${home}/${LOG_DIR}`;
    const max = opts.maxLogSize ?? DEFAULT_MAX_LOG_SIZE;
    this.#files = Math.max(1, opts.numberLogFiles ?? DEFAULT_NUMBER_LOG_FILES);
    this.#perFile = max === 0 ? Infinity : Math.max(1, Math.floor(max / this.#files));
  }

  /** The file being written (for tests and messages). */
  get currentFile(): string {
    return this.#path;
  }

  write(text: string): void {
    if (this.#failed) return;
    this.#pending.push(`[${rfc2822(new Date())}] ${text}\n`);
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending.splice(0);
    const enc = new TextEncoder();
    try {
      for (const line of lines) {
        const bytes = enc.encode(line);
        if (!this.#file || this.#size + bytes.length >= this.#perFile && this.#size > 0) {
          this.#open();
        }
        this.#file!.writeSync(bytes);
        this.#size += bytes.length;
      }
    } catch (e) {
      this.#failed = true;
      this.onError(e);
    }
  }

  #open() {
    this.#file?.close();
    Deno.mkdirSync(this.dir, { recursive: true });
    const now = new Date();
    const rotating = this.#path !== "";
    let path = `${this.dir}/${logFileName(now)}`;
    // a rotation within the same second takes the next free name
    for (let n = 1; rotating && this.#exists(path); n++) {
      path = `${this.dir}/${logFileName(now).replace(/\.log$/, `-${n}.log`)}`;
    }
    this.#path = path;
    this.#opened.push(path);
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#size = Deno.statSync(this.#path).size;
    if (this.#perFile !== Infinity) this.#prune();
  }

  #exists(path: string): boolean {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the oldest files beyond number-log-files. */
  #prune() {
    const files: { path: string; mtime: number }[] = [];
    for (const e of Deno.readDirSync(this.dir)) {
      if (!e.isFile) continue;
      const path = `${this.dir}/${e.name}`;
      // the file being written is always kept; only the others compete by age
      if (path === this.#path) continue;
      try {
        files.push({ path, mtime: Deno.statSync(path).mtime?.getTime() ?? 0 });
      } catch { /* gone */ }
    }
    const order = (p: string) => this.#opened.indexOf(p);
    files.sort((a, b) => a.mtime - b.mtime || order(a.path) - order(b.path));
    while (files.length > this.#files - 1) {
      const { path } = files.shift()!;
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
    }
  }

  close(): void {
    this.flush();
    try {
      this.#file?.close();
    } catch { /* closed */ }
    this.#file = undefined;
  }
}
