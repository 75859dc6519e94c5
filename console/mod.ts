// The runtime console: what a person who starts a node types into and reads,
// with Hyperdrive's key bindings, printouts, history and logs (hyperdrive/src/
// terminal). It is not a process: each entered line goes to the kernel as a
// Request from terminal:terminal:sys to terminal:terminal:sys, where the
// userspace terminal package parses and runs it (kernel/console_port.ts).
//
//   const con = createConsole({ home, verbosity, processVerbosity, detached, ... });
//   const node = await bootNode({ home, ..., console: con }); // prints reach it from boot on
//   const why = await con.run(node);  // CTRL+C/D, a signal, or a Shutdown
//   await node.shutdown();
//   con.close(why);
//
// Interactive (stdin and stdout a terminal, not --detached): raw mode, the input
// line at the bottom, printouts scrolling above it, and the live panel between
// them (frames a script marks with LIVE_MARKER, e.g. top --watch; Esc closes it
// and stops the script). Otherwise: plain lines out, and every line read from
// stdin is a command (pipes and process supervisors work).

import type { ConsolePort, RuntimeConsole } from "../kernel/console_port.ts";
import { type ProcessId, processIdToString } from "../wire/core.ts";
import { CommandHistory, HISTORY_FILE } from "./history.ts";
import { type InputEvent, KeyDecoder } from "./keys.ts";
import { LineEditor } from "./line.ts";
import { Logger } from "./logger.ts";
import {
  EventLoopFilter,
  isProcessId,
  levelColour,
  LIVE_MARKER,
  parseVerbosityVal,
  type Printout,
  type ProcessVerbosityVal,
  textLines,
  timestamp,
  VERBOSITY_NAMES,
} from "./printout.ts";
import { splash } from "./splash.ts";
import { displayWidth, fitWidth, stripAnsi } from "./width.ts";

export { LIVE_MARKER } from "./printout.ts";

/** The longest line the console takes (typed, pasted or read), in bytes. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Prints queued while the process verbosity screen is up (as Hyperdrive). */
const MAX_PRINTOUT_QUEUE = 256;
/** Output waiting for a slow stdout beyond this is dropped (and counted). */
const MAX_PENDING_OUTPUT = 4 * 1024 * 1024;
const TERMINAL = "terminal:terminal:sys";
const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

export interface ConsoleOptions {
  /** the node's home (history and logs live there) */
  home: string;
  /** -v: 0 off, 1 debug, 2 super-debug, 3 event loop (no logging), 4 event loop */
  verbosity?: number;
  /** --process-verbosity: "proc:pkg:pub" -> level or "muted" */
  processVerbosity?: Record<string, ProcessVerbosityVal>;
  /** --detached: no raw mode, no line editing; lines read from stdin are still commands */
  detached?: boolean;
  /** write every print to <home>/.terminal_logs (default on; -l turns it off; CTRL+L toggles) */
  logging?: boolean;
  /** --max-log-size, bytes over all log files (0: no limit); default 16 MB */
  maxLogSize?: number;
  /** --number-log-files; default 4 */
  numberLogFiles?: number;
  /** the runtime's version, for the splash */
  version?: string;
  /** read commands from stdin (default true) */
  input?: boolean;
  /** Instead of the process's stdin/stdout (embedders, benchmarks): a terminal of your own. */
  io?: ConsoleIo;
}

/** A terminal other than stdin/stdout. */
export interface ConsoleIo {
  /** what is typed (raw bytes when interactive, lines otherwise) */
  input: ReadableStream<Uint8Array>;
  /** writes some of `b`, resolving with how many bytes were written */
  write(b: Uint8Array): Promise<number>;
  /** a raw-mode terminal (line editing, panel) rather than plain lines */
  interactive: boolean;
  columns?: number;
  rows?: number;
}

/** What the console needs of the booted node. */
export interface ConsoleNode {
  readonly our: string;
  readonly home: string;
  readonly identity: { public_key: string; ips: string[]; routers: string[] };
  readonly httpUrl?: string;
}

const enc = new TextEncoder();

/** Creates the console; pass it to bootNode({ console }), then run() it. */
export function createConsole(opts: ConsoleOptions): Console {
  return new Console(opts);
}

export class Console implements RuntimeConsole {
  readonly #opts: ConsoleOptions;
  #port?: ConsolePort;
  #our = "";
  #started = false;
  #running = false;
  #closed = false;
  /** prints from before run(): shown after the splash */
  #early: Printout[] = [];

  // settings
  #verbosity: number;
  readonly #processVerbosity = new Map<string, ProcessVerbosityVal>();
  #logging: boolean;
  readonly #logger: Logger;
  readonly #eventLoop = new EventLoopFilter();

  // interactive state
  readonly #interactive: boolean;
  readonly #colour: boolean;
  #rows = 24;
  #cols = 80;
  readonly #line = new LineEditor();
  #history?: CommandHistory;
  #prompt = "";
  #search = false;
  #searchDepth = 0;
  #stepping = false;
  #pvMode = false;
  #savedLine?: string;
  readonly #pvQueue: Printout[] = [];
  #pvDropped = 0;
  /** the live panel: its source process and its lines */
  #live?: { source: string; lines: string[] };
  /** rows the panel took when last drawn */
  #liveRows = 0;
  /** the row (1-based) the input line is on: the bottom once the screen has filled */
  #inputRow = 24;

  // output
  /** prints and entered lines waiting to be drawn, in order */
  #pending: (Printout | { echo: string })[] = [];
  #renderQueued = false;
  readonly #out: string[] = [];
  #outBytes = 0;
  #outDropped = 0;
  #pumping?: Promise<void>;
  readonly #writeOut: (b: Uint8Array) => Promise<number>;

  // ending
  readonly #done = Promise.withResolvers<string>();
  readonly #signalHandlers: [Deno.Signal, () => void][] = [];
  #stdinReader?: ReadableStreamDefaultReader<Uint8Array>;
  #rawSet = false;

  constructor(opts: ConsoleOptions) {
    this.#opts = opts;
    this.#verbosity = Math.min(opts.verbosity ?? 0, 255);
    for (const [pid, v] of Object.entries(opts.processVerbosity ?? {})) {
      this.#processVerbosity.set(pid, v);
    }
    this.#logging = opts.logging ?? true;
    this.#logger = new Logger(opts.home, {
      maxLogSize: opts.maxLogSize,
      numberLogFiles: opts.numberLogFiles,
    });
    this.#logger.onError = (e) =>
      this.#show({
        level: 0,
        text: `console: cannot write ${this.#logger.dir}: ${
          e instanceof Error ? e.message : e
        }; logging stopped`,
        source: TERMINAL,
      });
    const io = opts.io;
    const stdinTty = io ? io.interactive : safe(() => Deno.stdin.isTerminal(), false);
    const stdoutTty = io ? io.interactive : safe(() => Deno.stdout.isTerminal(), false);
    this.#interactive = !opts.detached && stdinTty && stdoutTty && (opts.input ?? true);
    this.#colour = stdoutTty;
    this.#writeOut = io ? (b) => io.write(b) : (b) => Deno.stdout.write(b);
    // listening from now: a signal during boot still ends the node cleanly
    for (const sig of SIGNALS) {
      const h = () => this.#done.resolve(`exiting due to ${sig}`);
      try {
        Deno.addSignalListener(sig, h);
        this.#signalHandlers.push([sig, h]);
      } catch { /* not on this platform */ }
    }
  }

  /** The kernel's print hook (every print, unfiltered; see RuntimeConsole). */
  print = (level: number, text: string, source: ProcessId): void => {
    const p = { level, text, source: processIdToString(source) };
    if (!this.#started) {
      if (this.#early.length < 10_000) this.#early.push(p);
      return;
    }
    this.#show(p);
  };

  attach(port: ConsolePort): void {
    this.#port = port;
    this.#our = port.our;
    // as Hyperdrive: the event loop is printed from boot on at verbosity >= 3
    if (this.#verbosity >= 3) port.setEventLoop(true);
    for (const [pid, v] of this.#processVerbosity) {
      if (typeof v === "number" && v >= 3) port.setEventLoopFor(pid, true);
    }
    port.onShutdown(() => this.#done.resolve("graceful exit"));
  }

  /** Whether it runs in raw mode (line editing), not plain lines. */
  get interactive(): boolean {
    return this.#interactive;
  }

  /** Current global verbosity (CTRL+V). */
  get verbosity(): number {
    return this.#verbosity;
  }

  /** Sets the global verbosity (CTRL+V's cycle, or a KernelCommand SetVerbosity), 0-4. */
  setVerbosity(level: number): void {
    const next = Math.max(0, Math.min(4, Math.trunc(level)));
    if (next >= 3 && this.#verbosity < 3) this.#port?.setEventLoop(true);
    if (next < 3 && this.#verbosity >= 3) this.#port?.setEventLoop(false);
    this.#verbosity = next;
  }

  /**
   * Shows the splash and the prints so far, then takes input until the node should
   * stop; resolves with why (the quit message close() prints).
   */
  run(node: ConsoleNode): Promise<string> {
    if (this.#running) return this.#done.promise;
    if (!this.#port) {
      throw new Error(
        "the node has no console attached: boot it with bootNode({ console }) (console/README.md)",
      );
    }
    this.#our = node.our;
    this.#prompt = `${node.our} > `;
    this.#history = new CommandHistory(
      this.#interactive ? `${node.home}/${HISTORY_FILE}` : undefined,
    );
    if (this.#interactive) this.#readSize();
    const id = node.identity;
    const banner = splash({
      name: node.our,
      direct: id.routers.length === 0,
      version: this.#opts.version ?? "",
      ip: id.ips[0] ?? "",
      home: node.home,
      networkingKey: id.public_key,
      routers: id.routers,
      httpUrl: node.httpUrl,
      detached: !!this.#opts.detached,
      cols: this.#interactive ? this.#cols : 0,
    });
    this.#running = true;
    void this.#begin(banner);
    return this.#done.promise;
  }

  async #begin(banner: string) {
    let rest: Uint8Array = new Uint8Array(0);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    if (this.#interactive) {
      if (!this.#opts.io) {
        try {
          Deno.stdin.setRaw(true);
          this.#rawSet = true;
        } catch { /* not a terminal after all */ }
      }
      try {
        Deno.addSignalListener("SIGWINCH", this.#onResize);
      } catch { /* no SIGWINCH here */ }
      // bracketed paste on, the window's title, the splash; then where the cursor ended up,
      // so the first prints follow the splash instead of starting at the bottom
      await this.#writeNow(`\x1b[?2004h\x1b]0;hyperdeno ${this.#our}\x07${banner}\x1b[6n`);
      this.#inputRow = this.#rows;
      if (this.#opts.input ?? true) {
        reader = this.#inputStream().getReader();
        this.#stdinReader = reader;
        const answer = await cursorRow(reader, 500);
        if (answer.row !== undefined) this.#inputRow = Math.min(this.#rows, answer.row);
        rest = answer.rest;
      }
      if (this.#closed) return; // ended while starting: close() has restored the terminal
    } else {
      this.#write(this.#colour ? banner : stripAnsi(banner).replaceAll("\r\n", "\n"));
    }
    this.#started = true;
    for (const p of this.#early.splice(0)) this.#show(p);
    this.#render();
    if (this.#opts.input ?? true) void this.#readInput(reader, rest);
  }

  /** Puts the terminal back as it was and prints the quit message (in red). */
  async close(quit = "graceful exit"): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [sig, h] of this.#signalHandlers) {
      try {
        Deno.removeSignalListener(sig, h);
      } catch { /* gone */ }
    }
    if (!this.#running) {
      // never ran (the boot failed): nothing on the screen to restore
      this.#logger.close();
      return;
    }
    try {
      Deno.removeSignalListener("SIGWINCH", this.#onResize);
    } catch { /* never added */ }
    this.#flushRender();
    this.#logger.close();
    this.#history?.close();
    await this.#pumping;
    const tail = this.#interactive
      ? `\x1b[?2004l\x1b]0;\x07\x1b[38;5;9m\r\n${quit}\r\n\x1b[39m`
      : `${this.#colour ? "\x1b[38;5;9m" : ""}${quit}${this.#colour ? "\x1b[39m" : ""}\n`;
    this.#out.push(tail);
    try {
      await this.#writeNow(this.#out.splice(0).join(""));
    } catch { /* stdout gone */ }
    if (this.#rawSet) {
      try {
        Deno.stdin.setRaw(false);
      } catch { /* gone */ }
    }
    try {
      await this.#stdinReader?.cancel();
    } catch { /* done */ }
  }

  // -------------------------------------------------------------------------
  // prints

  #show(p: Printout) {
    if (this.#pvMode) {
      if (this.#pvQueue.length >= MAX_PRINTOUT_QUEUE) {
        this.#pvQueue.shift();
        this.#pvDropped++;
      }
      this.#pvQueue.push(p);
      return;
    }
    const live = p.text.indexOf(LIVE_MARKER);
    // a live frame is a display, not an event: it is not logged
    if (this.#logging && live < 0) this.#logger.write(p.text);
    const override = this.#processVerbosity.get(p.source);
    if (override === "muted") return;
    const limit = override ?? this.#verbosity;
    if (p.level > limit) return;
    if (limit === 3 && p.level === 3 && this.#eventLoop.suppress(p.text)) return;
    if (live >= 0) {
      const frame = p.text.slice(live + LIVE_MARKER.length);
      if (this.#interactive) {
        this.#live = { source: p.source, lines: textLines(frame) };
        this.#scheduleRender();
        return;
      }
      p = { ...p, text: frame };
    }
    if (this.#outBytes > MAX_PENDING_OUTPUT) {
      this.#outDropped++;
      return;
    }
    this.#pending.push(p);
    this.#scheduleRender();
  }

  /** A print of the console's own (shown as the terminal's, at level 0). */
  #say(text: string) {
    this.#show({ level: 0, text, source: TERMINAL });
  }

  #formatPrint(p: Printout, now: Date): string {
    const lines = textLines(p.text);
    if (!this.#colour) return `${timestamp(now)}${lines.join("\n")}\n`;
    const nl = this.#interactive ? "\r\n" : "\n";
    return `${timestamp(now)}${levelColour(p.level)}${lines.join(nl)}${nl}\x1b[39m`;
  }

  // -------------------------------------------------------------------------
  // drawing

  #readSize() {
    const io = this.#opts.io;
    const size = io
      ? { columns: io.columns ?? 80, rows: io.rows ?? 24 }
      : safe(() => Deno.consoleSize(), { columns: 80, rows: 24 });
    this.#cols = Math.max(10, size.columns);
    this.#rows = Math.max(3, size.rows);
  }

  #onResize = () => {
    this.#readSize();
    this.#inputRow = Math.min(this.#inputRow, this.#rows);
    this.#scheduleRender();
  };

  #scheduleRender() {
    if (this.#renderQueued || !this.#started) return;
    this.#renderQueued = true;
    queueMicrotask(() => this.#flushRender());
  }

  #flushRender() {
    this.#renderQueued = false;
    if (!this.#started || this.#closed) return;
    this.#render();
  }

  /** Everything pending: prints above the panel, the panel, the input line at the bottom. */
  #render() {
    const items = this.#pending;
    this.#pending = [];
    if (this.#outDropped > 0) {
      items.push({
        level: 0,
        text: `console: dropped ${this.#outDropped} prints (output was too slow)`,
        source: TERMINAL,
      });
      this.#outDropped = 0;
    }
    const now = new Date();
    if (!this.#interactive) {
      let s = "";
      for (const item of items) {
        s += "echo" in item ? `${item.echo}\n` : this.#formatPrint(item, now);
      }
      if (s) this.#write(s);
      return;
    }
    if (this.#pvMode) {
      this.#drawProcessVerbosity();
      return;
    }
    let s = "";
    const panel = this.#panelLines();
    // from the panel's top (or the input row) down: echoes, prints, the panel, the input
    const start = Math.max(1, this.#inputRow - this.#liveRows);
    s += `\x1b[${start};1H\r\x1b[J`;
    let rows = 0;
    for (const item of items) {
      if ("echo" in item) {
        s += `\x1b[39m${item.echo}\r\n`;
        rows += this.#rowsOf(item.echo);
        continue;
      }
      s += this.#formatPrint(item, now);
      textLines(item.text).forEach((l, i) => rows += this.#rowsOf(i === 0 ? `Wed 00:00 ${l}` : l));
    }
    for (const l of panel) s += `${l}\x1b[0m\r\n`;
    rows += panel.length;
    this.#liveRows = panel.length;
    this.#inputRow = Math.min(this.#rows, start + rows);
    s += this.#inputLine();
    this.#write(s);
  }

  /** Terminal rows a printed line takes (long lines wrap). */
  #rowsOf(line: string): number {
    const w = displayWidth(stripAnsi(line).replaceAll("\t", "        "));
    return Math.max(1, Math.ceil(w / this.#cols));
  }

  /** The live panel's lines, fitted to the window. */
  #panelLines(): string[] {
    if (!this.#live) return [];
    const max = Math.max(0, this.#rows - 3);
    const lines = this.#live.lines.slice(0, max);
    return lines.map((l) => fitWidth(l, this.#cols));
  }

  /** The bottom row: prompt and line (or the search), cursor in place. */
  #inputLine(): string {
    const avail = this.#cols - displayWidth(this.#prompt) - 1;
    let s = "\r\x1b[2K\x1b[39m";
    if (this.#search) {
      const query = this.#line.text;
      const found = this.#history!.search(query, this.#searchDepth);
      const prompt = `${this.#our} *`;
      s = `\r\x1b[2K\x1b[39m${prompt}`;
      if (found !== undefined) {
        const at = found.indexOf(query);
        const shown = fitWidth(
          `${found.slice(0, at)}\x1b[4m${query}\x1b[24m${found.slice(at + query.length)}`,
          avail,
        );
        const col = displayWidth(prompt) + displayWidth(found.slice(0, at + query.length));
        return `${s}${shown}\r${col > 0 ? `\x1b[${Math.min(col, this.#cols - 1)}C` : ""}`;
      }
      const shown = fitWidth(`${query}: no results`, avail);
      const col = displayWidth(prompt) + displayWidth(query);
      return `${s}${shown}\r${col > 0 ? `\x1b[${Math.min(col, this.#cols - 1)}C` : ""}`;
    }
    const view = this.#line.view(Math.max(1, avail));
    const col = displayWidth(this.#prompt) + view.cursorCol;
    return `${s}${this.#prompt}${view.text}\r${col > 0 ? `\x1b[${col}C` : ""}`;
  }

  #inputStream(): ReadableStream<Uint8Array> {
    return this.#opts.io?.input ?? Deno.stdin.readable;
  }

  /** Writes all of `s` now (not through the output queue). */
  async #writeNow(s: string) {
    const b = enc.encode(s);
    let off = 0;
    while (off < b.length) off += await this.#writeOut(b.subarray(off));
  }

  #write(s: string) {
    if (s === "") return;
    this.#out.push(s);
    this.#outBytes += s.length;
    this.#pumping ??= this.#pump();
  }

  async #pump() {
    try {
      while (this.#out.length > 0) {
        const chunk = this.#out.splice(0).join("");
        this.#outBytes = 0;
        await this.#writeNow(chunk);
      }
    } catch {
      // stdout is gone (a closed pipe): nothing more can be shown
      this.#out.length = 0;
    } finally {
      this.#pumping = undefined;
      if (this.#out.length > 0) this.#pumping = this.#pump();
    }
  }

  // -------------------------------------------------------------------------
  // input

  async #readInput(
    reader: ReadableStreamDefaultReader<Uint8Array> = this.#inputStream().getReader(),
    first: Uint8Array = new Uint8Array(0),
  ) {
    this.#stdinReader = reader;
    const keys = new KeyDecoder(MAX_LINE_BYTES);
    if (first.length > 0) { for (const ev of keys.push(first)) this.#onEvent(ev); }
    let partial: Uint8Array[] = [];
    let partialBytes = 0;
    let lineNo = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.#closed) break;
        if (this.#interactive) {
          for (const ev of keys.push(value)) this.#onEvent(ev);
          continue;
        }
        // plain mode: whole lines
        let from = 0;
        for (let i = 0; i < value.length; i++) {
          if (value[i] !== 0x0a) continue;
          partial.push(value.subarray(from, i));
          partialBytes += i - from;
          from = i + 1;
          this.#plainLine(concat(partial), partialBytes, ++lineNo);
          partial = [];
          partialBytes = 0;
        }
        if (from < value.length) {
          partialBytes += value.length - from;
          // keep no more than the limit (the line is refused anyway)
          if (partialBytes <= MAX_LINE_BYTES + 1) partial.push(value.slice(from));
        }
      }
      if (!this.#interactive && partialBytes > 0) {
        this.#plainLine(concat(partial), partialBytes, ++lineNo);
      }
    } catch {
      // stdin closed under us: the node keeps running without input
    }
  }

  #plainLine(bytes: Uint8Array, length: number, lineNo: number) {
    if (length > MAX_LINE_BYTES) {
      this.#say(`console: line ${lineNo} is ${length} bytes (limit ${MAX_LINE_BYTES}); ignored`);
      return;
    }
    let line: string;
    try {
      line = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      this.#say(`console: line ${lineNo} is not valid UTF-8; ignored`);
      return;
    }
    line = line.replace(/\r$/, "");
    if (line.trim() === "") return;
    this.#pending.push({ echo: `${this.#prompt}${line}` });
    this.#scheduleRender();
    this.#port?.enterLine(line);
  }

  #onEvent(ev: InputEvent) {
    switch (ev.kind) {
      case "invalid":
        this.#say(`console: ${ev.bytes} input byte(s) were not valid UTF-8; ignored`);
        return;
      case "paste": {
        if (ev.dropped > 0) {
          this.#say(
            `console: a paste of ${ev.dropped} bytes is over the ${MAX_LINE_BYTES}-byte line limit; nothing pasted`,
          );
          return;
        }
        // newlines and other control characters are left out, as Hyperdrive does
        // deno-lint-ignore no-control-regex
        this.#insert(ev.text.replace(/[\x00-\x1f\x7f-\x9f]/g, ""));
        return;
      }
      case "text":
        this.#insert(ev.text);
        return;
      case "ctrl":
        this.#onCtrl(ev.key);
        return;
      case "key":
        this.#onKey(ev.key);
        return;
    }
  }

  #insert(text: string) {
    if (text === "") return;
    const bytes = enc.encode(this.#line.text).length + enc.encode(text).length;
    if (bytes > MAX_LINE_BYTES) {
      this.#say(`console: the line would be ${bytes} bytes (limit ${MAX_LINE_BYTES}); not added`);
      return;
    }
    this.#line.insert(text);
    this.#scheduleRender();
  }

  #bell() {
    this.#write("\x07");
  }

  #onCtrl(key: string) {
    switch (key) {
      case "c":
      case "d":
        this.#write(`\x1b[${this.#inputRow};1H\r\x1b[2Kexit code received`);
        this.#done.resolve("graceful exit");
        return;
      case "v": {
        if (this.#pvMode) return;
        const next = this.#verbosity >= 4 ? 0 : this.#verbosity + 1;
        this.setVerbosity(next);
        this.#say(`verbose mode: ${VERBOSITY_NAMES[next]}`);
        return;
      }
      case "j":
        if (this.#pvMode) return;
        this.#stepping = !this.#stepping;
        this.#port?.setStepping(this.#stepping);
        this.#say(
          `debug mode ${this.#stepping ? "on: use CTRL+S to step through events" : "off"}`,
        );
        return;
      case "s":
        if (this.#pvMode) return;
        this.#port?.step();
        return;
      case "l":
        if (this.#pvMode) return;
        this.#logging = !this.#logging;
        if (!this.#logging) this.#logger.flush();
        this.#say(`logging mode: ${this.#logging ? "on" : "off"}`);
        return;
      case "p":
        return this.#onKey("up");
      case "n":
        return this.#onKey("down");
      case "a":
        if (this.#search) return;
        this.#line.home();
        break;
      case "e":
        if (this.#search) return;
        this.#line.end();
        break;
      case "r":
        if (this.#pvMode) return;
        if (this.#search) this.#searchDepth++;
        this.#search = true;
        break;
      case "g":
        this.#search = false;
        this.#searchDepth = 0;
        break;
      case "w":
        if (this.#search) return;
        this.#togglePvMode();
        return;
      default:
        return;
    }
    this.#scheduleRender();
  }

  #onKey(key: string) {
    switch (key) {
      case "up":
      case "down": {
        if (this.#search || this.#pvMode) return;
        const line = key === "up" ? this.#history!.prev(this.#line.text) : this.#history!.next();
        if (line === undefined) this.#bell();
        else this.#line.set(line);
        break;
      }
      case "left":
        this.#line.left();
        break;
      case "right":
        this.#line.right();
        break;
      case "home":
        if (this.#search) return;
        this.#line.home();
        break;
      case "end":
        if (this.#search) return;
        this.#line.end();
        break;
      case "backspace":
        this.#line.backspace();
        break;
      case "delete":
        this.#line.delete();
        break;
      case "escape":
        if (this.#live) {
          // close the panel and stop the script that fed it
          const source = this.#live.source;
          this.#live = undefined;
          if (source !== TERMINAL) this.#port?.kill(source);
        } else if (this.#search) {
          this.#search = false;
          this.#searchDepth = 0;
        }
        break;
      case "enter":
        this.#enter();
        return;
      default:
        return;
    }
    this.#scheduleRender();
  }

  #enter() {
    if (this.#pvMode) {
      this.#pvEnter(this.#line.text);
      return;
    }
    const command = this.#search
      ? this.#history!.search(this.#line.text, this.#searchDepth) ?? ""
      : this.#line.text;
    this.#search = false;
    this.#searchDepth = 0;
    this.#pending.push({ echo: `${this.#prompt}${command}` });
    this.#history!.add(command);
    this.#line.clear();
    this.#scheduleRender();
    if (command.trim() !== "") this.#port?.enterLine(command);
  }

  // -------------------------------------------------------------------------
  // CTRL+W: process verbosity mode (its own screen)

  #togglePvMode() {
    if (this.#pvMode) {
      this.#pvMode = false;
      if (this.#savedLine !== undefined) this.#line.set(this.#savedLine);
      this.#savedLine = undefined;
      this.#write("\x1b[?25h\x1b[?1049l");
      if (this.#pvDropped > 0) {
        this.#say(`Dropped ${this.#pvDropped} prints while on alternate screen`);
        this.#pvDropped = 0;
      }
      for (const p of this.#pvQueue.splice(0)) this.#show(p);
      this.#scheduleRender();
      return;
    }
    this.#flushRender();
    this.#pvMode = true;
    this.#savedLine = this.#line.text;
    this.#line.clear();
    this.#write("\x1b[?1049h\x1b[?25l");
    this.#drawProcessVerbosity();
  }

  #drawProcessVerbosity() {
    let s = "\x1b[H\x1b[J";
    s += "\x1b[38;5;10m=== Process Verbosity Mode ===\r\n\x1b[39m";
    s += `Overall verbosity: ${VERBOSITY_NAMES[this.#verbosity] ?? "unknown"}\r\n`;
    s += "\r\nProcess-specific verbosity levels:\r\n";
    let row = 4;
    if (this.#processVerbosity.size === 0) {
      s += "(none set)\r\n";
      row++;
    } else {
      for (const [pid, v] of this.#processVerbosity) {
        s += `${pid}: ${v}\r\n`;
        row++;
      }
    }
    s += `\x1b[${row + 2};1H`;
    s +=
      "To set process verbosity, input '<ProcessId> <verbosity (u8)>' and then press <Enter>\r\n" +
      "  e.g.\r\n  chat:chat:template.os 3 (event loop, no logging)\r\n" +
      "  chat:chat:template.os 4 (event loop)\r\n" +
      "To mute a process, input '<ProcessId> m' or 'mute' or 'muted' and then press <Enter>.\r\n" +
      "To remove a previously set process verbosity, input '<ProcessId>' and then press <Enter>.\r\n" +
      "Press CTRL+W to exit\r\n";
    const view = this.#line.view(this.#cols - 3);
    s += `\x1b[${this.#rows};1H\x1b[2K> ${view.text}\r\x1b[${2 + view.cursorCol}C`;
    this.#write(s);
  }

  #pvEnter(input: string) {
    const parts = input.trim().split(/\s+/).filter((p) => p !== "");
    const old = this.#processVerbosity.get(parts[0] ?? "");
    const level = (v: ProcessVerbosityVal | undefined) => typeof v === "number" ? v : 0;
    if (parts.length === 2 && isProcessId(parts[0])) {
      const v = parseVerbosityVal(parts[1]);
      if (v !== undefined) {
        this.#processVerbosity.set(parts[0], v);
        if ((level(old) >= 3) !== (level(v) >= 3)) {
          this.#port?.setEventLoopFor(parts[0], level(v) >= 3);
        }
        this.#line.clear();
      }
    } else if (parts.length === 1 && isProcessId(parts[0])) {
      if (this.#processVerbosity.delete(parts[0]) && level(old) >= 3) {
        this.#port?.setEventLoopFor(parts[0], false);
      }
      this.#line.clear();
    }
    this.#drawProcessVerbosity();
  }
}

/** Reads the answer to CSI 6n (ESC [ row ; col R) for up to `ms`; other input is kept. */
async function cursorRow(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<{ row?: number; rest: Uint8Array }> {
  let got: Uint8Array = new Uint8Array(0);
  const deadline = Date.now() + ms;
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  while (Date.now() < deadline) {
    pending ??= reader.read();
    const r = await Promise.race([
      pending,
      new Promise<undefined>((res) =>
        setTimeout(() => res(undefined), Math.max(1, deadline - Date.now()))
      ),
    ]);
    if (r === undefined) break;
    pending = undefined;
    if (r.done) break;
    got = concat([got, r.value]);
    const text = new TextDecoder().decode(got);
    // deno-lint-ignore no-control-regex
    const m = /\x1b\[(\d+);(\d+)R/.exec(text);
    if (m) {
      const before = enc.encode(text.slice(0, m.index));
      const after = enc.encode(text.slice(m.index + m[0].length));
      return { row: Number(m[1]), rest: concat([before, after]) };
    }
  }
  if (pending) {
    // the terminal did not answer in time: its bytes, when they come, are input
    const late = await pending;
    if (!late.done) got = concat([got, late.value]);
  }
  return { rest: got };
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
