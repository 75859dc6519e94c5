// What the console prints first: a wordmark (when the terminal is wide enough)
// and the node's particulars, in the lines Hyperdrive's splash gives them.

const WORDMARK = [
  "█  █ █   █ ███  ████ ███  ███  ████ █   █  ██ ",
  "█  █  █ █  █  █ █    █  █ █  █ █    ██  █ █  █",
  "████   █   ███  ███  ███  █  █ ███  █ █ █ █  █",
  "█  █   █   █    █    █ █  █  █ █    █  ██ █  █",
  "█  █   █   █    ████ █  █ ███  ████ █   █  ██ ",
];

export interface SplashInfo {
  name: string;
  direct: boolean;
  version: string;
  ip: string;
  home: string;
  networkingKey: string;
  /** routers of an indirect node */
  routers: string[];
  /** where http-server listens, if it does */
  httpUrl?: string;
  detached: boolean;
  /** terminal columns (0: unknown) */
  cols: number;
}

/** The splash, lines ending in \r\n (the console may already be in raw mode). */
export function splash(s: SplashInfo): string {
  const lines: string[] = [""];
  if (s.cols === 0 || s.cols >= WORDMARK[0].length + 2) {
    for (const l of WORDMARK) lines.push(` ${l}`);
    lines.push("");
  }
  lines.push(` ${s.name} (${s.direct ? "direct" : "indirect"})`);
  lines.push(` runtime version ${s.version} (hyperdeno)`);
  lines.push(" a general purpose sovereign cloud computer");
  if (s.direct) lines.push(` public IP ${s.ip}`);
  else lines.push(` routers ${s.routers.join(", ")}`);
  lines.push(` home directory at ${s.home}`);
  lines.push(` networking pubkey ${s.networkingKey}`);
  if (s.httpUrl) lines.push(` serving http at ${s.httpUrl}`);
  if (s.detached) lines.push("(detached)");
  return `\x1b[38;5;13m${lines.join("\r\n")}\x1b[39m\r\n`;
}
