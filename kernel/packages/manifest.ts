// Reading a kit package's pkg/manifest.json: its process entries, the capabilities they
// request and grant (and how a requested one is named for approval), and InstallError,
// the one error an install or uninstall is refused with.

import {
  canonicalJson,
  type Capability,
  messagingCap,
  type OnExit,
  parseProcessId,
  processIdToString,
} from "../../wire/core.ts";
import { isObject, str } from "../../wire/fields.ts";
import { readOnExit } from "../../wire/kernel.ts";

/** One process entry of a kit manifest.json. */
export interface ManifestEntry {
  /** The process name; the process id is process_name:package:publisher. */
  process_name: string;
  /** The process code inside the package's pkg/ directory, e.g. "/app.wasm". */
  process_wasm_path: string;
  /** What to do when the process exits: "None", "Restart", or { Requests: [...] }. */
  on_exit: unknown;
  /** Whether the process may message other nodes. */
  request_networking: boolean;
  /** Capabilities the process asks for at install. */
  request_capabilities: unknown[];
  /** Capabilities over this process that it grants to others at install. */
  grant_capabilities: unknown[];
  /** Whether any local process may message it without a messaging capability. */
  public: boolean;
}

/** Why an install or uninstall was refused; the message is for people. */
export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstallError";
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The manifest's entries. Names and paths must be strings; the rest keep kit's
 * defaults when absent (on_exit None, no caps, not public), as before.
 */
export function readManifest(v: unknown, file: string): ManifestEntry[] {
  if (!Array.isArray(v)) throw new InstallError(`${file}: expected a list`);
  return v.map((e, i) => {
    try {
      if (!isObject(e)) throw new Error("expected an object");
      const list = (name: string) => {
        const l = e[name] ?? [];
        if (!Array.isArray(l)) throw new Error(`${name}: expected a list`);
        return l;
      };
      const text = (name: string) => {
        try {
          return str(e[name]);
        } catch (err) {
          throw new Error(`${name}: ${errorText(err)}`);
        }
      };
      const flag = (name: string) => {
        const f = e[name] ?? false;
        if (typeof f !== "boolean") throw new Error(`${name}: expected true or false`);
        return f;
      };
      return {
        process_name: text("process_name"),
        process_wasm_path: text("process_wasm_path"),
        on_exit: e.on_exit ?? "None",
        request_networking: flag("request_networking"),
        request_capabilities: list("request_capabilities"),
        grant_capabilities: list("grant_capabilities"),
        public: flag("public"),
      };
    } catch (err) {
      throw new InstallError(`${file}: entry ${i}: ${errorText(err)}`);
    }
  });
}

export function onExitOf(entry: ManifestEntry, file: string): OnExit {
  try {
    return readOnExit(entry.on_exit);
  } catch (e) {
    throw new InstallError(`${file}: ${entry.process_name}: on_exit: ${errorText(e)}`);
  }
}

/**
 * A manifest capability entry, read as app-store's install reads it:
 * "proc:pkg:pub" (messaging) or {process, params}, params written as serde_json
 * writes a Value (compact, keys sorted). Anything else is not a capability:
 * `invalid` says why (printed, or refusing the package on the app store's path).
 */
export function manifestCap(
  our: string,
  v: unknown,
  invalid: (why: string) => void,
): Capability | undefined {
  const parse = (s: unknown) => {
    try {
      return typeof s === "string" ? parseProcessId(s) : undefined;
    } catch {
      return undefined;
    }
  };
  if (typeof v === "string") {
    const process = parse(v);
    if (!process) invalid(`${JSON.stringify(v)} is not a process id`);
    return process && messagingCap({ node: our, process });
  }
  if (isObject(v)) {
    const process = parse(v.process);
    if (!process) {
      invalid(`${JSON.stringify(v.process ?? null)} is not a process id`);
      return undefined;
    }
    if (!("params" in v)) {
      invalid(`${JSON.stringify(v)} has no params`);
      return undefined;
    }
    return { issuer: { node: our, process }, params: canonicalJson(JSON.stringify(v.params)) };
  }
  invalid(`${JSON.stringify(v)} is neither "proc:pkg:pub" nor {"process", "params"}`);
  return undefined;
}

/**
 * How a requested capability is named for approval: the process id for messaging,
 * else `<process> <params as canonical JSON>`; networking is "networking".
 */
export function capabilityName(cap: Capability): string {
  if (cap.issuer.process.processName === "kernel" && canonicalJson(cap.params) === '"network"') {
    return "networking";
  }
  const pid = processIdToString(cap.issuer.process);
  const params = canonicalJson(cap.params);
  return params === '"messaging"' ? pid : `${pid} ${params}`;
}

/** A manifest's process path as segments inside pkg/ (no "..", no absolute escape). */
export function processFile(entry: ManifestEntry, file: string): string {
  const segs = entry.process_wasm_path.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.length === 0 || segs.some((s) => s === ".." || s.includes("\\") || s.includes("\0"))) {
    throw new InstallError(
      `${file}: ${entry.process_name}: process_wasm_path ${
        JSON.stringify(entry.process_wasm_path)
      } is not a file inside pkg/`,
    );
  }
  return segs.join("/");
}
