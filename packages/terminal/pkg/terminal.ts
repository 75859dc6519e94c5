// terminal:terminal:sys, the userspace terminal: the runtime console (console/)
// sends it every line typed at the node, as a Request from terminal:terminal:sys
// to itself; it resolves the first word (an alias, or a full process id) to a
// script and runs it: reads the script's entry in its package's
// pkg/scripts.json and its code from the vfs, spawns it under a random name with
// the capabilities that entry gives, and hands it the rest of the line as its
// first message. The script's answer is printed.
//
// As Hyperdrive's terminal: aliases (Hyperdrive's defaults, kept in process
// state), the EditAlias API of api/terminal:sys-v0.wit for the package's own
// processes (the `alias` script), and its error texts. Beyond it: a script is
// only spawned with capabilities the terminal holds (else a one-line error
// names the missing ones), and a script that has not answered after a while
// is pointed out in one line.
import {
  getState,
  lastBlob,
  ourCapabilities,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";

interface ProcessId {
  processName: string;
  packageName: string;
  publisherNode: string;
}
interface Address {
  node: string;
  process: ProcessId;
}
interface Capability {
  issuer: Address;
  params: string;
}
interface Req {
  inherit: boolean;
  expectsResponse?: bigint;
  body: Uint8Array;
  metadata?: string;
  capabilities: Capability[];
}
interface Res {
  inherit: boolean;
  body: Uint8Array;
  metadata?: string;
  capabilities: Capability[];
}
type Message = { tag: "request"; val: Req } | { tag: "response"; val: [Res, Uint8Array?] };

/** A scripts.json entry (process_lib's DotScriptsEntry). */
interface ScriptEntry {
  root: boolean;
  public: boolean;
  request_networking: boolean;
  request_capabilities?: unknown[] | null;
  grant_capabilities?: unknown[] | null;
  wit_version?: number | null;
}

/** A script that was handed its arguments and has not answered yet. */
interface Running {
  /** what was typed, e.g. "m -a 5 our@..." (its first word), for the messages */
  name: string;
  since: number;
  /** seen gone from the process map (reported at the next check, so an answer in flight wins) */
  gone?: boolean;
  noticed?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** How long the terminal waits for a script's answer before giving up on it. */
const ANSWER_TIMEOUT_S = 3600;
/** A script still not answering after this long is pointed out (once). */
const STILL_RUNNING_NOTICE_MS = 15_000;
/** How often running scripts are checked on. */
const CHECK_MS = 1000;
const DEFAULT_SCRIPTS = [
  "add-node-provider",
  "add-rpcurl-provider",
  "alias",
  "cat",
  "clear-state",
  "echo",
  "get-providers",
  "help",
  "hi",
  "kill",
  "m",
  "namehash-to-name",
  "net-diagnostics",
  "peer",
  "peers",
  "remove-provider",
  "top",
];

let our: Address;
let aliases: Record<string, string> = {};
const running = new Map<string, Running>();
let checking = false;

// ---------------------------------------------------------------------------
// ids and addresses, as Hyperdrive parses them

function pidString(p: ProcessId): string {
  return `${p.processName}:${p.packageName}:${p.publisherNode}`;
}
function addrString(a: Address): string {
  return `${a.node}@${pidString(a.process)}`;
}
/** process_lib's ProcessId::from_str: three segments of a-z, 0-9, `-` (and `.` in the last). */
function parsePid(s: string): ProcessId | undefined {
  if (!/^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-.]+$/.test(s)) return undefined;
  const parts = s.split(":");
  return { processName: parts[0], packageName: parts[1], publisherNode: parts[2] };
}
function parseAddr(s: string): Address | undefined {
  const at = s.indexOf("@");
  if (at <= 0) return undefined;
  const process = parsePid(s.slice(at + 1));
  return process && { node: s.slice(0, at), process };
}
function local(processName: string, packageName: string, publisherNode: string): Address {
  return { node: our.node, process: { processName, packageName, publisherNode } };
}
function sameAddr(a: Address, b: Address) {
  return a.node === b.node && pidString(a.process) === pidString(b.process);
}

// ---------------------------------------------------------------------------
// JSON values as serde_json writes them (keys sorted), for capability params

function jsonDisplay(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonDisplay).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${jsonDisplay(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v) ?? "null";
}
function capKey(c: Capability): string {
  let params: string;
  try {
    params = jsonDisplay(JSON.parse(c.params));
  } catch {
    params = c.params;
  }
  return `${addrString(c.issuer)}(${params})`;
}

// ---------------------------------------------------------------------------
// state: { version: "V1", our, aliases }

const DEFAULT_ALIASES: Record<string, string> = (() => {
  const a: Record<string, string> = {};
  for (const s of DEFAULT_SCRIPTS) a[s] = `${s}:terminal:sys`;
  // Hyperdrive's alias is `kfetch`; its script is hfetch
  a.kfetch = "hfetch:terminal:sys";
  a.hfetch = "hfetch:terminal:sys";
  return a;
})();

function loadState() {
  let saved: Record<string, string> = {};
  try {
    const bytes = getState();
    if (bytes) {
      const s = JSON.parse(dec.decode(bytes));
      if (s && s.version === "V1" && s.aliases && typeof s.aliases === "object") {
        for (const [k, v] of Object.entries(s.aliases)) {
          if (typeof v === "string" && parsePid(v)) saved[k] = v;
        }
      }
    }
  } catch {
    saved = {};
  }
  // the built-in scripts' aliases come back at every start, as in Hyperdrive
  aliases = { ...saved, ...DEFAULT_ALIASES };
}

function saveState() {
  setState(enc.encode(JSON.stringify({ version: "V1", our: addrString(our), aliases })));
}

// ---------------------------------------------------------------------------
// messaging helpers

function request(body: Uint8Array, timeoutS?: number): Req {
  return {
    inherit: false,
    expectsResponse: timeoutS === undefined ? undefined : BigInt(timeoutS),
    body,
    metadata: undefined,
    capabilities: [],
  };
}

interface Blob {
  mime?: string;
  bytes: Uint8Array;
}

/** A request and its answer's body; undefined when none came (timeout or offline). */
function ask(target: Address, body: unknown, timeoutS = 5, blob?: Blob): Uint8Array | undefined {
  const req = request(enc.encode(typeof body === "string" ? body : JSON.stringify(body)), timeoutS);
  try {
    const [, msg] = sendAndAwaitResponse(target, req, blob) as [Address, Message];
    if (msg.tag !== "response") return undefined;
    return msg.val[0].body;
  } catch {
    return undefined;
  }
}

function kernel(command: unknown, timeoutS = 5): unknown {
  const body = ask(local("kernel", "distro", "sys"), command, timeoutS);
  if (!body) return undefined;
  try {
    return JSON.parse(dec.decode(body));
  } catch {
    return undefined;
  }
}

function println(text: string) {
  printToTerminal(0, text);
}

class ScriptError extends Error {}

// ---------------------------------------------------------------------------
// running a script

function handleLine(line: string) {
  line = line.trim();
  if (line === "") return;
  const space = line.indexOf(" ");
  const head = space < 0 ? line : line.slice(0, space);
  const args = space < 0 ? "" : line.slice(space + 1);
  const target = aliases[head] ?? head;
  const process = parsePid(target);
  if (!process) {
    throw new ScriptError(`'${head}' not found, either as an alias or process ID`);
  }
  run(head, process, args);
}

/** vfs Read of a path (the whole file): its bytes (the answer's blob), or undefined. */
function vfsRead(path: string): Blob | undefined {
  const body = ask(local("vfs", "distro", "sys"), { path, action: "Read" }, 5);
  if (!body) return undefined;
  try {
    if (JSON.parse(dec.decode(body)) !== "Read") return undefined;
  } catch {
    return undefined;
  }
  return lastBlob() as Blob | undefined;
}

/** The entry for `process` in its package's scripts.json, and the script file's name. */
function scriptEntry(process: ProcessId): { entry: ScriptEntry; file: string } {
  const pkg = `/${process.packageName}:${process.publisherNode}/pkg`;
  const file = vfsRead(`${pkg}/scripts.json`);
  if (!file) throw new ScriptError("no scripts manifest in package");
  const text = dec.decode(file.bytes);
  let scripts: Record<string, ScriptEntry>;
  try {
    scripts = JSON.parse(text);
    if (!scripts || typeof scripts !== "object" || Array.isArray(scripts)) throw new Error();
    for (const e of Object.values(scripts)) {
      if (
        typeof e !== "object" || e === null || typeof e.root !== "boolean" ||
        typeof e.public !== "boolean" || typeof e.request_networking !== "boolean"
      ) throw new Error();
    }
  } catch {
    throw new ScriptError("could not parse scripts.json file");
  }
  for (const ext of ["wasm", "ts", "js"]) {
    const file = `${process.processName}.${ext}`;
    if (Object.hasOwn(scripts, file)) return { entry: scripts[file], file: `${pkg}/${file}` };
  }
  throw new ScriptError("script not in scripts.json file");
}

/** A scripts.json capability: "proc:pkg:pub" (messaging) or {process, params}. */
function manifestCap(v: unknown): Capability | undefined {
  if (typeof v === "string") {
    const p = parsePid(v);
    return p && { issuer: { node: our.node, process: p }, params: '"messaging"' };
  }
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const p = typeof o.process === "string" ? parsePid(o.process) : undefined;
    if (!p || !("params" in o)) return undefined;
    return { issuer: { node: our.node, process: p }, params: jsonDisplay(o.params) };
  }
  return undefined;
}

function run(name: string, process: ProcessId, args: string) {
  const { entry, file } = scriptEntry(process);
  // every script gets a fresh random name in its package
  const id: ProcessId = {
    processName: crypto.getRandomValues(new BigUint64Array(1))[0].toString(),
    packageName: process.packageName,
    publisherNode: process.publisherNode,
  };
  const self: Address = { node: our.node, process: id };

  const held = ourCapabilities() as Capability[];
  const heldKeys = new Set(held.map(capKey));
  const wanted = new Map<string, Capability>();
  const add = (c: Capability) => wanted.set(capKey(c), c);
  for (const v of entry.request_capabilities ?? []) {
    const c = manifestCap(v);
    if (c) add(c);
  }
  add({ issuer: our, params: '"messaging"' });
  if (entry.request_networking) {
    add({ issuer: local("kernel", "distro", "sys"), params: '"network"' });
  }
  if (entry.root) { for (const c of held) add(c); }
  // the kernel would drop what we do not hold without a word: say so instead (a messaging
  // cap to a public process is needed by no one: that one is let go)
  const missing = [...wanted].filter(([k, c]) =>
    !heldKeys.has(k) && !(c.params === '"messaging"' && c.issuer.node === our.node &&
      isPublic(c.issuer.process))
  ).map(([k]) => k);
  if (missing.length > 0) {
    throw new ScriptError(
      `${pidString(process)} asks for capabilities ${pidString(our.process)} does not hold: ${
        missing.join(", ")
      }`,
    );
  }

  const code = vfsRead(file);
  if (!code) throw new ScriptError("failed to read script Wasm from VFS");

  for (const v of entry.grant_capabilities ?? []) {
    const c = manifestCap(v);
    if (!c) continue;
    kernelSend({
      GrantCapabilities: {
        target: pidString(c.issuer.process),
        capabilities: [{ issuer: addrString(self), params: c.params }],
      },
    });
  }

  // the script's code goes as the blob, as the vfs Read gave it
  const init = ask(
    local("kernel", "distro", "sys"),
    {
      InitializeProcess: {
        id: pidString(id),
        wasm_bytes_handle: file,
        wit_version: entry.wit_version ?? null,
        on_exit: "None",
        initial_capabilities: [...wanted].filter(([k]) => heldKeys.has(k)).map(([, c]) => ({
          issuer: addrString(c.issuer),
          params: c.params,
        })),
        public: entry.public,
      },
    },
    30,
    code,
  );
  if (!init || dec.decode(init) !== '"InitializedProcess"') {
    throw new ScriptError("kernel unresponsive");
  }
  const started = kernel({ RunProcess: pidString(id) });
  if (started !== "StartedProcess") throw new ScriptError("kernel unresponsive");

  // its arguments, as its first message; its answer comes back with this context
  running.set(pidString(id), { name, since: Date.now() });
  sendRequest(
    self,
    request(enc.encode(args), ANSWER_TIMEOUT_S),
    enc.encode(JSON.stringify({ script: pidString(id) })),
    undefined,
  );
  scheduleCheck();
}

/** Whether a local process is public (the kernel's Debug Process). */
function isPublic(process: ProcessId): boolean {
  const r = kernel({ Debug: { Process: pidString(process) } }) as
    | { Debug?: { Process?: { public?: boolean } | null } }
    | undefined;
  return r?.Debug?.Process?.public === true;
}

function kernelSend(command: unknown) {
  sendRequest(
    local("kernel", "distro", "sys"),
    request(enc.encode(JSON.stringify(command))),
    undefined,
    undefined,
  );
}

/** While scripts run, a timer tick every CHECK_MS looks after them. */
function scheduleCheck() {
  if (checking || running.size === 0) return;
  checking = true;
  sendRequest(
    local("timer", "distro", "sys"),
    request(enc.encode(JSON.stringify({ SetTimer: CHECK_MS })), 30),
    enc.encode(JSON.stringify({ tick: true })),
    undefined,
  );
}

function check() {
  checking = false;
  const now = Date.now();
  for (const [pid, r] of running) {
    if (r.gone) {
      // a script may end without answering (kit's call_init! scripts do; a crash is the
      // kernel's to report): let go in silence, as Hyperdrive's terminal, which asks for none
      running.delete(pid);
      continue;
    }
    const res = kernel({ Debug: { Process: pid } }) as
      | { Debug?: { Process?: unknown } }
      | undefined;
    if (res?.Debug && res.Debug.Process === null) r.gone = true;
    else if (!r.noticed && now - r.since >= STILL_RUNNING_NOTICE_MS) {
      r.noticed = true;
      println(
        `${r.name}: no answer after ${
          Math.round((now - r.since) / 1000)
        } s; still running as ${pid}`,
      );
    }
  }
  scheduleCheck();
}

// ---------------------------------------------------------------------------
// EditAlias, from the package's own processes

function editAlias(alias: string, process: string | null): string {
  let response: string;
  if (process !== null) {
    if (!parsePid(process)) return "InvalidProcessId";
    println(`alias ${alias} set for ${process}`);
    aliases[alias] = process;
    response = "AliasSet";
  } else if (Object.hasOwn(aliases, alias)) {
    delete aliases[alias];
    println(`alias ${alias} removed`);
    response = "AliasRemoved";
  } else {
    println(`alias ${alias} not found`);
    response = "AliasNotFound";
  }
  saveState();
  return response;
}

function handleTerminalRequest(source: Address, req: Req) {
  let alias: string, process: string | null;
  try {
    const v = JSON.parse(dec.decode(req.body));
    const e = v?.EditAlias;
    if (!e || typeof e.alias !== "string") throw new Error();
    if (e.process !== null && e.process !== undefined && typeof e.process !== "string") {
      throw new Error();
    }
    alias = e.alias;
    process = e.process ?? null;
  } catch {
    println(`failed to parse TerminalRequest from ${addrString(source)}`);
    return;
  }
  const response = editAlias(alias, process);
  if (req.expectsResponse !== undefined) {
    sendResponse({
      inherit: false,
      body: enc.encode(JSON.stringify({ EditAlias: response })),
      metadata: undefined,
      capabilities: [],
    }, undefined);
  }
}

// ---------------------------------------------------------------------------

function onResponse(res: Res, context: Uint8Array | undefined) {
  let ctx: { script?: string; tick?: boolean } = {};
  try {
    if (context) ctx = JSON.parse(dec.decode(context));
  } catch { /* a response we did not ask for */ }
  if (ctx.tick) return check();
  if (ctx.script !== undefined) {
    if (!running.delete(ctx.script)) return;
    const text = dec.decode(res.body);
    if (text !== "") println(text);
    return;
  }
  // as Hyperdrive's terminal: any other response is printed
  println(dec.decode(res.body));
}

function onSendError(err: unknown, context: Uint8Array | undefined) {
  let ctx: { script?: string; tick?: boolean } = {};
  try {
    if (context) ctx = JSON.parse(dec.decode(context));
  } catch { /* not ours */ }
  if (ctx.tick) {
    checking = false;
    return scheduleCheck();
  }
  if (ctx.script !== undefined) {
    const r = running.get(ctx.script);
    if (!r) return;
    running.delete(ctx.script);
    const kind = (err as { kind?: string })?.kind;
    println(
      kind === "offline"
        ? `error: ${r.name} (${ctx.script}) ended before it got its arguments`
        : `error: ${r.name} (${ctx.script}) did not answer in ${ANSWER_TIMEOUT_S} s`,
    );
  }
}

export function init(ourString: string): void {
  const parsed = parseAddr(ourString);
  if (!parsed) throw new Error(`bad address ${ourString}`);
  our = parsed;
  loadState();
  for (;;) {
    let source: Address, message: Message;
    try {
      [source, message] = receive() as [Address, Message];
    } catch (e) {
      const payload = (e as { payload?: [unknown, Uint8Array | undefined] }).payload;
      if (payload) onSendError(payload[0], payload[1]);
      continue;
    }
    try {
      if (message.tag === "response") {
        onResponse(message.val[0], message.val[1]);
      } else if (sameAddr(source, our)) {
        // a line typed at the console
        handleLine(dec.decode(message.val.body));
      } else if (
        source.node === our.node && source.process.packageName === our.process.packageName &&
        source.process.publisherNode === our.process.publisherNode
      ) {
        handleTerminalRequest(source, message.val);
      } else {
        printToTerminal(2, `ignoring message from ${addrString(source)}`);
      }
    } catch (e) {
      if (e instanceof ScriptError) println(`error calling script: ${e.message}`);
      else println(`error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
