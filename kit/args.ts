// A small clap-like command line parser for the kit verbs: each verb declares kit's flags
// (long and short names, value or switch, defaults, repeatable) and positionals; `--value`,
// `--flag=value`, `-f value` and `-fvalue` are read as clap reads them; `--` ends the flags
// (kit's boot-fake-node passes what follows to the node).

/** One flag or positional of a verb. */
export interface ArgSpec {
  /** The key in the parsed result (the long name, or the positional's name). */
  name: string;
  /** The long flag, without dashes; absent for a positional. */
  long?: string;
  short?: string;
  /** A switch (no value): true when given. */
  flag?: boolean;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** A positional argument (in declaration order). */
  positional?: boolean;
  required?: boolean;
  default?: string;
  /** Accepted values. */
  choices?: string[];
  /** For the help text. */
  help: string;
  /** The value's placeholder in the help text. */
  value?: string;
}

export interface VerbSpec {
  name: string;
  about: string;
  /** kit's visible alias. */
  alias?: string;
  args: ArgSpec[];
  /** Arguments after `--` are kept (boot-fake-node's node arguments). */
  trailing?: string;
}

export interface Parsed {
  /** Values by name: string for values, boolean for switches, string[] for repeatable ones. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** What came after `--`. */
  rest: string[];
}

/** A bad command line: printed with the verb's usage, exit code 2 (clap's). */
export class UsageError extends Error {}

/** The help text of a verb, in clap's layout. */
export function helpText(spec: VerbSpec, command = "deno task"): string {
  const pos = spec.args.filter((a) => a.positional);
  const opts = spec.args.filter((a) => !a.positional);
  const usage = [
    `${command} ${spec.name}`,
    opts.length ? "[OPTIONS]" : "",
    ...pos.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)),
    spec.trailing ? `[-- <${spec.trailing}>...]` : "",
  ].filter(Boolean).join(" ");
  const lines = [spec.about, "", `Usage: ${usage}`];
  const row = (left: string, a: ArgSpec) => {
    const extra = [
      a.default !== undefined ? `[default: ${a.default}]` : "",
      a.choices ? `[possible values: ${a.choices.join(", ")}]` : "",
    ].filter(Boolean).join(" ");
    return `  ${left.padEnd(34)} ${a.help}${extra ? ` ${extra}` : ""}`;
  };
  if (pos.length) {
    lines.push("", "Arguments:");
    for (const p of pos) lines.push(row(`[${p.name}]`, p));
  }
  lines.push("", "Options:");
  for (const o of opts) {
    const names = `${o.short ? `-${o.short}, ` : "    "}--${o.long}`;
    lines.push(row(o.flag ? names : `${names} <${o.value ?? o.name.toUpperCase()}>`, o));
  }
  lines.push(row("-h, --help", { name: "help", help: "Print help" }));
  return lines.join("\n");
}

/** Parses `argv` against the verb's spec; throws UsageError as clap would refuse. */
export function parseArgs(spec: VerbSpec, argv: string[]): Parsed | "help" {
  const values: Parsed["values"] = {};
  const positionals = spec.args.filter((a) => a.positional);
  const byLong = new Map(spec.args.filter((a) => a.long).map((a) => [a.long!, a]));
  const byShort = new Map(spec.args.filter((a) => a.short).map((a) => [a.short!, a]));
  let rest: string[] = [];
  let nextPositional = 0;
  const set = (a: ArgSpec, v: string | boolean) => {
    if (typeof v === "string" && a.choices && !a.choices.includes(v)) {
      throw new UsageError(
        `invalid value '${v}' for '--${a.long ?? a.name}': possible values: ${
          a.choices.join(", ")
        }`,
      );
    }
    if (a.multiple) {
      const list = (values[a.name] as string[] | undefined) ?? [];
      values[a.name] = [...list, v as string];
    } else if (values[a.name] !== undefined && !a.flag) {
      throw new UsageError(`the argument '--${a.long}' cannot be used multiple times`);
    } else values[a.name] = v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      if (!spec.trailing) throw new UsageError(`unexpected argument '--'`);
      rest = argv.slice(i + 1);
      break;
    }
    if (arg === "-h" || arg === "--help") return "help";
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const long = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const a = byLong.get(long);
      if (!a) throw new UsageError(`unexpected argument '${arg}' found`);
      if (a.flag) {
        if (eq >= 0) throw new UsageError(`unexpected value for '--${long}'`);
        set(a, true);
      } else {
        const v = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new UsageError(`a value is required for '--${long}'`);
        set(a, v);
      }
    } else if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      // -abc: switches, the last one may take the rest as its value
      for (let j = 1; j < arg.length; j++) {
        const a = byShort.get(arg[j]);
        if (!a) throw new UsageError(`unexpected argument '-${arg[j]}' found`);
        if (a.flag) {
          set(a, true);
          continue;
        }
        let v: string | undefined = arg.slice(j + 1).replace(/^=/, "");
        if (v === "") v = argv[++i];
        if (v === undefined) throw new UsageError(`a value is required for '-${a.short}'`);
        set(a, v);
        break;
      }
    } else {
      const p = positionals[nextPositional++];
      if (!p) throw new UsageError(`unexpected argument '${arg}' found`);
      set(p, arg);
    }
  }
  for (const a of spec.args) {
    if (values[a.name] !== undefined) continue;
    if (a.flag) values[a.name] = false;
    else if (a.multiple) values[a.name] = [];
    else if (a.default !== undefined) values[a.name] = a.default;
    else if (a.required) {
      throw new UsageError(
        `the following required arguments were not provided: <${a.long ? `--${a.long}` : a.name}>`,
      );
    } else values[a.name] = undefined;
  }
  return { values, rest };
}

/** A u16 port value, as clap's value_parser!(u16) reads it. */
export function portValue(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) {
    throw new UsageError(`invalid value '${v}' for '--${name}': must be a number 0-65535`);
  }
  return n;
}

/** A u8 value. */
export function u8Value(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 255) {
    throw new UsageError(`invalid value '${v}' for '--${name}': must be a number 0-255`);
  }
  return n;
}

/** Where a relative path given on the command line is: the directory `deno task` was run in. */
export function userCwd(): string {
  return Deno.env.get("INIT_CWD") ?? Deno.cwd();
}

/** `path` resolved against the user's working directory. */
export function userPath(path: string): string {
  if (path.startsWith("/")) return path.replace(/\/+$/, "") || "/";
  const base = userCwd().replace(/\/+$/, "");
  const parts: string[] = base.split("/");
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.length > 1 && parts.pop();
    else parts.push(p);
  }
  return parts.join("/") || "/";
}
