// How a print looks and whether it shows, as Hyperdrive's console decides:
// "<weekday> <HH>:<MM> " then the text in its level's colour (0 default,
// 1 green, 2 magenta, 3 red); shown when its level is at most the source
// process's verbosity (CTRL+W), else the global one (CTRL+V); "muted" hides a
// process. At verbosity 3 ("event loop (no logging)") the event loop's vfs
// requests that write processes' log drives (Metadata, Append, CloseFile under
// /<package>/log/) and their responses are left out; 4 shows every event.

/** A print on its way to the screen. */
export interface Printout {
  level: number;
  text: string;
  /** the printing process, "proc:pkg:pub" */
  source: string;
}

/** A process's verbosity override. */
export type ProcessVerbosityVal = number | "muted";

/** The CTRL+V modes' names. */
export const VERBOSITY_NAMES = [
  "off",
  "debug",
  "super-debug",
  "event loop (no logging)",
  "event loop",
];

/**
 * Marks a print as a frame of the live panel (a terminal-ignored OSC sequence): the
 * console shows the latest frame of each source in place above the input line.
 */
export const LIVE_MARKER = "\x1b]hyperdeno;live\x07";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** "Wed 14:03 ", local time. */
export function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${p(d.getHours())}:${p(d.getMinutes())} `;
}

/** The foreground colour of a level (crossterm's Reset, Green, Magenta, Red). */
export function levelColour(level: number): string {
  return level === 0
    ? "\x1b[39m"
    : level === 1
    ? "\x1b[38;5;10m"
    : level === 2
    ? "\x1b[38;5;13m"
    : "\x1b[38;5;9m";
}

/** Rust's str::lines(): split on \n, a trailing \r dropped, no empty last line. */
export function textLines(text: string): string[] {
  const lines = text.split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** "m", "mute" or "muted" -> muted, else a u8; undefined if neither. */
export function parseVerbosityVal(s: string): ProcessVerbosityVal | undefined {
  if (s === "m" || s === "mute" || s === "muted") return "muted";
  if (!/^\+?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 255 ? n : undefined;
}

/** lib's ProcessId::from_str: three non-empty segments. */
export function isProcessId(s: string): boolean {
  const parts = s.split(":");
  return parts.length === 3 && parts.every((p) => p !== "");
}

/** Remembers requests left out at verbosity 3, so their responses are left out too. */
export class EventLoopFilter {
  readonly #ids = new Set<string>();

  /** Whether this level-3 print (a KernelMessage's Display) is left out. */
  suppress(text: string): boolean {
    if (text.includes("message: Request(")) {
      if (!isLoggingRequest(text)) return false;
      if (text.split("\n").some((l) => l.trim().startsWith("expects_response: Some("))) {
        const id = messageId(text);
        if (id !== undefined) {
          if (this.#ids.size > 10_000) this.#ids.clear();
          this.#ids.add(id);
        }
      }
      return true;
    }
    if (text.includes("message: Response(")) {
      const id = messageId(text);
      return id !== undefined && this.#ids.delete(id);
    }
    return false;
  }
}

function messageId(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const m = /^id: ([0-9]+),?$/.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

function isLoggingRequest(text: string): boolean {
  const lines = text.split("\n").map((l) => l.trim());
  if (!lines.some((l) => l.startsWith("target: ") && l.includes("@vfs:"))) return false;
  const body = lines.find((l) => l.startsWith("body: "));
  if (!body) return false;
  const candidate = body.slice(6).replace(/,+$/, "").trim();
  if (!candidate.startsWith("{") || !candidate.endsWith("}")) return false;
  let req: { path?: unknown; action?: unknown };
  try {
    req = JSON.parse(candidate);
  } catch {
    return false;
  }
  if (typeof req.path !== "string") return false;
  const segments = req.path.split("/").filter((s) => s !== "");
  if (segments[1] !== "log") return false;
  return req.action === "Metadata" || req.action === "Append" || req.action === "CloseFile";
}
