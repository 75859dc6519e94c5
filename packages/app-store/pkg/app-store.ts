// main:app-store:sys, the app store's front, as a TypeScript process module.
//
// Hyperdrive's API (api/app-store:sys-v2.wit, interface `main`, serde JSON), from this
// node's processes (kit's RPC arrives from http-server:distro:sys):
//   {"NewPackage": {package_id, mirror}} + the package zip as blob
//       -> {"NewPackageResponse": "Success" | "NoBlob" | "InstallFailed" | "AlreadyExists"}
//       the zip's version hash is its sha256 (lowercase hex); downloads:app-store:sys keeps
//       it as /app-store:sys/downloads/<pkg>/<hash>.zip (and <hash>.json, its manifest)
//   {"Install": {package_id, version_hash, metadata}} -> {"InstallResponse": "Success" | "Failure"}
//       unzips that version into the package's pkg drive and starts it, atomically
//       (packages:distro:sys, the runtime's install machinery, does the swap)
//   {"Uninstall": package_id} -> {"UninstallResponse": "Success" | "Failure"}
//   "Apis" -> {"ApisResponse": {"apis": [package_id]}}
//   {"GetApi": package_id} -> {"GetApiResponse": "Success" | "Failure"}, api.zip as blob
// and from downloads:app-store:sys: Progress / DownloadComplete (pushed to the UI's
// WebSocket as {"kind": "progress" | "complete", "data"}), AutoDownloadComplete.
//
// HTTP, on our secure subdomain as Hyperdrive's (paths below /main:app-store:sys):
//   /  the UI (ui/*) and a WebSocket for download progress; Hyperdrive's http_api routes:
//   GET /apps /apps/:id /downloads /downloads/:id /installed /installed/:id /ourapps
//   /homepageapps /updates /manifest?id=&version_hash= /mirrorcheck/:id/:node /togglepublic,
//   POST /apps/:id/download {download_from, version_hash}, POST /apps/:id/install
//   {version_hash, approved_capabilities?}, DELETE /apps/:id (uninstall: 204, no body),
//   PUT|DELETE /downloads/:id/mirror, POST /downloads/:id/remove {version_hash},
//   PUT|DELETE /apps/:id/auto-update, POST /updates/:id/clear, POST /reset, POST /togglepublic;
//   and /apps-public on the main origin for the homepage widget.
// Errors are {"error": "<why>"} with a 4xx/5xx status (Hyperdrive: 500 for most).
//
// A process module: the standard API and the package's own lib/ are all it imports.

import {
  getBlob,
  getState,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  setState,
} from "hyperware:process/standard@1.0.0";
import {
  type Address,
  type Blob,
  type Capability,
  dec,
  enc,
  errorText,
  isObj,
  local,
  Malformed,
  me,
  pidString,
  type WitMessage,
  type WitRequest,
} from "./lib/process.ts";
import { keccak256Hex, sha256Hex } from "./lib/hash.ts";

// ---------------------------------------------------------------------------
// http-server's incoming request, as this module reads it

interface IncomingHttpRequest {
  method: string;
  url: string;
  bound_path: string;
  headers: Record<string, string>;
  url_params: Record<string, string>;
  query_params: Record<string, string>;
}

// ---------------------------------------------------------------------------
// The API's types (app-store:sys-v2.wit), with serde's field names

export interface PackageIdJson {
  package_name: string;
  publisher_node: string;
}
export interface OnchainProperties {
  package_name: string;
  publisher: string;
  current_version: string;
  mirrors: string[];
  code_hashes: [string, string][];
  license: string | null;
  screenshots: string[] | null;
  wit_version: number | null;
  dependencies: string[] | null;
}
export interface OnchainMetadata {
  name: string | null;
  description: string | null;
  image: string | null;
  external_url: string | null;
  animation_url: string | null;
  properties: OnchainProperties;
}
interface PackageState {
  our_version_hash: string;
  verified: boolean;
  caps_approved: boolean;
  manifest_hash: string | null;
}
interface UpdateInfo {
  errors: [string, unknown][];
  pending_manifest_hash: string | null;
}

// ---------------------------------------------------------------------------

const OUR_ID = pidString(me.process);
const PKG_DRIVE = "/app-store:sys/pkg";
const DOWNLOADS_DIR = "/app-store:sys/downloads";
const STAGING_DRIVE = "/app-store:sys/staging";
/** downloads:app-store:sys's unpacked trees of added zips (its UNPACKED) */
const UNPACKED_DIR = `${DOWNLOADS_DIR}/tmp/unpacked`;
/** How long an install may take (a new component is transpiled on first use). */
const INSTALL_TIMEOUT_S = 300;

const HTTP_SERVER = local("http-server", "distro", "sys");
const VFS = local("vfs", "distro", "sys");
const HOMEPAGE = local("homepage", "homepage", "sys");
const PACKAGES = local("packages", "distro", "sys");
const DOWNLOADS = local("downloads", "app-store", "sys");
const CHAIN = local("chain", "app-store", "sys");

function log(verbosity: number, text: string): void {
  printToTerminal(verbosity, `app-store: ${text}`);
}

/** A send error's kind ("offline" / "timeout"), or undefined for other errors. */
function sendErrorKind(e: unknown): string | undefined {
  return (e as { payload?: { kind?: string } })?.payload?.kind;
}

// ---------------------------------------------------------------------------
// Package ids

const PACKAGE_NAME = /^[a-z0-9-]+$/;
const PUBLISHER = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

/** "pkg:publisher" from {package_name, publisher_node}; Malformed names the problem. */
export function readPackageId(v: unknown, what = "package_id"): string {
  if (!isObj(v)) throw new Malformed(`${what}: expected {package_name, publisher_node}`);
  const { package_name: n, publisher_node: p } = v;
  if (typeof n !== "string" || !PACKAGE_NAME.test(n)) {
    throw new Malformed(
      `${what}.package_name: expected a-z, 0-9 and "-", got ${JSON.stringify(n)}`,
    );
  }
  if (typeof p !== "string" || !PUBLISHER.test(p)) {
    throw new Malformed(`${what}.publisher_node: expected a node name, got ${JSON.stringify(p)}`);
  }
  return `${n}:${p}`;
}

/** "pkg:publisher" as text (a URL's :id); Malformed when it is not one. */
export function parsePackageIdText(s: string): string {
  const parts = s.split(":");
  if (parts.length !== 2) throw new Malformed(`${JSON.stringify(s)} is not a package id`);
  return readPackageId({ package_name: parts[0], publisher_node: parts[1] });
}

export function packageIdJson(id: string): PackageIdJson {
  const i = id.indexOf(":");
  return { package_name: id.slice(0, i), publisher_node: id.slice(i + 1) };
}

// ---------------------------------------------------------------------------
// Metadata, as serde reads OnchainMetadata (extra fields ignored, null as absent)

function optString(o: Record<string, unknown>, k: string, at: string): string | null {
  const v = o[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new Malformed(`${at}.${k}: expected a string or null`);
  return v;
}
function stringList(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new Malformed(`${at}: expected a list of strings`);
  }
  return v;
}

export function readMetadata(v: unknown, at = "metadata"): OnchainMetadata {
  if (!isObj(v)) throw new Malformed(`${at}: expected an object`);
  const p = v.properties;
  if (!isObj(p)) throw new Malformed(`${at}.properties: expected an object`);
  const pa = `${at}.properties`;
  const str = (k: string) => {
    if (typeof p[k] !== "string") throw new Malformed(`${pa}.${k}: expected a string`);
    return p[k] as string;
  };
  const hashes = p.code_hashes;
  let codeHashes: [string, string][];
  if (Array.isArray(hashes)) {
    codeHashes = hashes.map((h, i) => {
      if (
        !Array.isArray(h) || h.length !== 2 || typeof h[0] !== "string" || typeof h[1] !== "string"
      ) {
        throw new Malformed(`${pa}.code_hashes[${i}]: expected ["<version>", "<hash>"]`);
      }
      return [h[0], h[1]];
    });
  } else if (isObj(hashes)) {
    // metadata.json itself keeps them as an object
    codeHashes = Object.entries(hashes).map(([k, h]) => {
      if (typeof h !== "string") throw new Malformed(`${pa}.code_hashes.${k}: expected a string`);
      return [k, h];
    });
  } else throw new Malformed(`${pa}.code_hashes: expected a list of [version, hash]`);
  const wit = p.wit_version ?? null;
  if (
    wit !== null &&
    !(typeof wit === "number" && Number.isInteger(wit) && wit >= 0 && wit <= 0xffffffff)
  ) {
    throw new Malformed(`${pa}.wit_version: expected a u32 or null`);
  }
  return {
    name: optString(v, "name", at),
    description: optString(v, "description", at),
    image: optString(v, "image", at),
    external_url: optString(v, "external_url", at),
    animation_url: optString(v, "animation_url", at),
    properties: {
      package_name: str("package_name"),
      publisher: str("publisher"),
      current_version: str("current_version"),
      mirrors: stringList(p.mirrors ?? [], `${pa}.mirrors`),
      code_hashes: codeHashes,
      license: optString(p, "license", pa),
      screenshots: p.screenshots == null ? null : stringList(p.screenshots, `${pa}.screenshots`),
      wit_version: wit as number | null,
      dependencies: p.dependencies == null
        ? null
        : stringList(p.dependencies, `${pa}.dependencies`),
    },
  };
}

// ---------------------------------------------------------------------------
// Requests to other processes

interface CallOptions {
  timeout?: number;
  capabilities?: Capability[];
  blob?: Blob;
  inherit?: boolean;
}

function callRaw(target: Address, body: Uint8Array, opts: CallOptions = {}) {
  const req: WitRequest = {
    inherit: opts.inherit ?? false,
    expectsResponse: BigInt(opts.timeout ?? 30),
    body,
    metadata: undefined,
    capabilities: opts.capabilities ?? [],
  };
  const [, message] = sendAndAwaitResponse(target, req, opts.blob) as [Address, WitMessage];
  if (message.tag !== "response") throw new Error("expected a response");
  return { body: message.val[0].body, blob: getBlob() as Blob | undefined };
}

/** Sends JSON and awaits; the answer parsed as JSON, and its blob. */
function call(target: Address, body: unknown, opts: CallOptions = {}) {
  const { body: bytes, blob } = callRaw(target, enc.encode(JSON.stringify(body)), opts);
  return { answer: JSON.parse(dec.decode(bytes)) as unknown, blob };
}

/** Sends JSON expecting no response. */
function tell(target: Address, body: unknown, capabilities: Capability[] = [], blob?: Blob): void {
  sendRequest(
    target,
    {
      inherit: false,
      expectsResponse: undefined,
      body: enc.encode(JSON.stringify(body)),
      metadata: undefined,
      capabilities,
    },
    undefined,
    blob,
  );
}

function vfs(path: string, action: unknown, blob?: Blob, timeout = 30) {
  return call(VFS, { path, action }, { blob, timeout });
}

function vfsRead(path: string): Uint8Array | undefined {
  try {
    const { answer, blob } = vfs(path, "Read");
    if (answer === "Read" && blob) return blob.bytes;
  } catch (e) {
    log(2, `vfs read ${path}: ${errorText(e)}`);
  }
  return undefined;
}

function vfsOk(path: string, action: unknown, blob?: Blob, timeout = 60): void {
  const { answer } = vfs(path, action, blob, timeout);
  if (answer !== "Ok") {
    throw new Error(`vfs ${JSON.stringify(action)} ${path}: ${vfsError(answer)}`);
  }
}

function vfsError(answer: unknown): string {
  if (isObj(answer) && "Err" in answer) {
    const e = answer.Err;
    if (typeof e === "string") return e;
    if (isObj(e)) {
      const [k, v] = Object.entries(e)[0] ?? ["error", ""];
      return isObj(v) && typeof v.error === "string"
        ? `${k}: ${v.error}`
        : `${k} ${JSON.stringify(v)}`;
    }
  }
  return JSON.stringify(answer);
}

function vfsExists(path: string): boolean {
  try {
    const { answer } = vfs(path, "Metadata");
    return isObj(answer) && "Metadata" in answer;
  } catch {
    return false;
  }
}

function bind(action: Record<string, unknown>, content?: { mime: string; bytes: Uint8Array }) {
  try {
    const { answer } = call(HTTP_SERVER, action, { timeout: 10, blob: content });
    if (isObj(answer) && "Ok" in answer) return;
    log(0, `binding failed: ${JSON.stringify(action)}: ${JSON.stringify(answer)}`);
  } catch (e) {
    log(0, `binding failed: ${JSON.stringify(action)}: ${errorText(e)}`);
  }
}

// ---------------------------------------------------------------------------
// State: installed packages (and their APIs), pending updates, whether we serve publicly

interface Saved {
  packages: Record<string, PackageState>;
  apis: string[];
  updates: Record<string, Record<string, UpdateInfo>>;
  is_serving_public: boolean;
}

function loadState(): Saved {
  const s: Saved = { packages: {}, apis: [], updates: {}, is_serving_public: false };
  try {
    const bytes = getState();
    if (!bytes) return s;
    const v = JSON.parse(dec.decode(bytes));
    if (isObj(v.packages)) s.packages = v.packages as Record<string, PackageState>;
    if (Array.isArray(v.apis)) s.apis = v.apis.filter((a: unknown) => typeof a === "string");
    if (isObj(v.updates)) s.updates = v.updates as Saved["updates"];
    s.is_serving_public = v.is_serving_public === true;
  } catch (e) {
    log(0, `ignoring unreadable saved state: ${errorText(e)}`);
  }
  return s;
}

function saveState(s: Saved): void {
  setState(enc.encode(JSON.stringify(s)));
}

/**
 * Packages on this node: those we installed (our state) and those installed otherwise
 * (the distro, bootNode), found as package dirs with a pkg/manifest.json.
 */
function installedPackages(s: Saved): Record<string, PackageState> {
  const out: Record<string, PackageState> = {};
  try {
    const { answer } = vfs("/", "ReadDir");
    const entries = isObj(answer) && Array.isArray(answer.ReadDir) ? answer.ReadDir : [];
    for (const e of entries as { path: string; file_type: string }[]) {
      if (e.file_type !== "Directory") continue;
      const id = e.path.replace(/^\//, "");
      try {
        parsePackageIdText(id);
      } catch {
        continue;
      }
      if (!s.packages[id] && !vfsExists(`/${id}/pkg/manifest.json`)) continue;
      out[id] = s.packages[id] ?? {
        our_version_hash: "",
        verified: true,
        caps_approved: true,
        manifest_hash: null,
      };
    }
  } catch (e) {
    log(1, `listing packages: ${errorText(e)}`);
  }
  for (const [id, p] of Object.entries(s.packages)) out[id] ??= p;
  return out;
}

// ---------------------------------------------------------------------------
// Local requests (interface main)

type LocalResponse = Record<string, unknown>;

function chainMetadata(id: string): OnchainMetadata | undefined {
  try {
    const { answer } = call(CHAIN, { GetApp: packageIdJson(id) }, { timeout: 10 });
    const app = isObj(answer) ? answer.GetApp : undefined;
    if (isObj(app) && app.metadata) return readMetadata(app.metadata);
  } catch (e) {
    log(1, `no metadata for ${id} from chain: ${errorText(e)}`);
  }
  return undefined;
}

/**
 * NewPackage: the zip becomes a download (downloads checks it is a readable zip with a
 * manifest.json). Errors say why; the answer is Hyperdrive's enum.
 */
function newPackage(id: string, mirror: boolean, blob: Blob): string {
  const hash = sha256Hex(blob.bytes);
  const { answer } = call(
    DOWNLOADS,
    { AddDownload: { package_id: packageIdJson(id), version_hash: hash, mirror } },
    { blob: { mime: "application/zip", bytes: blob.bytes }, timeout: 60 },
  );
  if (answer !== "Success") throw new Error(`downloads refused the zip: ${JSON.stringify(answer)}`);
  log(1, `added ${id} version ${hash}`);
  return hash;
}

/** Asks the runtime's install machinery; says so when the runtime has none. */
function callPackages(body: unknown, timeout: number) {
  try {
    return call(PACKAGES, body, { timeout });
  } catch (e) {
    if (sendErrorKind(e) === undefined) throw e;
    throw new Error(
      `the runtime's install machinery (packages:distro:sys) did not answer: ${errorText(e)}`,
    );
  }
}

/**
 * The tree downloads:app-store:sys unpacked when it checked this version's zip (kept only
 * under the hash its bytes have), renamed to `staged`: the zip is not unzipped twice.
 * False when there is none (then the zip is unzipped).
 */
function takeUnpacked(id: string, versionHash: string, staged: string): boolean {
  try {
    const { answer } = vfs(`${UNPACKED_DIR}/${id}/${versionHash}`, {
      Rename: { new_path: staged },
    });
    return answer === "Ok";
  } catch {
    return false;
  }
}

/** Installs a version we have the zip of; throws saying why it was refused. */
function install(
  s: Saved,
  id: string,
  versionHash: string,
  metadata: OnchainMetadata | null,
  approved?: string[],
): void {
  if (!/^[0-9a-f]{64}$/.test(versionHash)) {
    throw new Malformed(
      `version_hash: expected 64 lowercase hex digits, got ${JSON.stringify(versionHash)}`,
    );
  }
  const zipPath = `${DOWNLOADS_DIR}/${id}/${versionHash}.zip`;
  const zip = vfsRead(zipPath);
  if (!zip) throw new Error(`no download of ${id} with version hash ${versionHash}`);
  if (sha256Hex(zip) !== versionHash) {
    throw new Error(`${zipPath} does not hash to ${versionHash}: remove it and download again`);
  }
  const meta = metadata ?? chainMetadata(id) ?? null;
  // unzip into our staging drive; the install machinery moves it into place
  const staged = `${STAGING_DRIVE}/${id}-${versionHash.slice(0, 16)}-${Date.now()}`;
  try {
    vfsOk(STAGING_DRIVE, "CreateDrive");
    if (!takeUnpacked(id, versionHash, staged)) {
      vfsOk(staged, "AddZip", { mime: "application/zip", bytes: zip });
    }
    const hasApi = vfsExists(`${staged}/api.zip`);
    if (hasApi) {
      const api = vfsRead(`${staged}/api.zip`);
      if (api) vfsOk(`${staged}/api`, "AddZip", { mime: "application/zip", bytes: api });
    }
    const manifest = vfsRead(`${staged}/manifest.json`);
    const { answer } = callPackages(
      {
        Install: {
          package_id: id,
          path: staged,
          wit_version: meta?.properties.wit_version ?? null,
          approved_capabilities: approved ?? null,
        },
      },
      INSTALL_TIMEOUT_S,
    );
    if (!isObj(answer) || !("Ok" in answer)) {
      const why = isObj(answer) && typeof answer.Err === "string"
        ? answer.Err
        : JSON.stringify(answer);
      throw new Error(why);
    }
    s.packages[id] = {
      our_version_hash: versionHash,
      verified: true,
      caps_approved: true,
      manifest_hash: manifest ? keccak256Hex(manifest) : null,
    };
    s.apis = s.apis.filter((a) => a !== id);
    if (hasApi) s.apis.push(id);
    saveState(s);
    tell(CHAIN, { StartAutoUpdate: packageIdJson(id) });
  } finally {
    // what the install did not take (it takes the staged dir when it runs)
    try {
      if (vfsExists(staged)) vfs(staged, "RemoveDirAll");
    } catch { /* already gone */ }
  }
}

/** Uninstalls: the runtime kills its processes and removes its drive; tiles go. */
function uninstall(s: Saved, id: string): void {
  const { answer } = callPackages({ Uninstall: id }, 60);
  if (!isObj(answer) || !isObj(answer.Ok)) {
    throw new Error(
      isObj(answer) && typeof answer.Err === "string" ? answer.Err : JSON.stringify(answer),
    );
  }
  const processes = Array.isArray(answer.Ok.processes) ? answer.Ok.processes as string[] : [];
  const removeOther: Capability = { issuer: HOMEPAGE, params: '"RemoveOther"' };
  for (const pid of processes) tell(HOMEPAGE, { RemoveOther: pid }, [removeOther]);
  delete s.packages[id];
  s.apis = s.apis.filter((a) => a !== id);
  delete s.updates[id];
  saveState(s);
  tell(CHAIN, { StopAutoUpdate: packageIdJson(id) });
}

function handleLocal(s: Saved, body: Record<string, unknown> | string, blob?: Blob): {
  response: LocalResponse;
  blob?: Blob;
} {
  if (body === "Apis") {
    return { response: { ApisResponse: { apis: s.apis.sort().map(packageIdJson) } } };
  }
  if (typeof body === "string") throw new Malformed(`unknown request ${JSON.stringify(body)}`);
  if ("NewPackage" in body) {
    const r = body.NewPackage;
    if (!isObj(r)) throw new Malformed("NewPackage: expected {package_id, mirror}");
    const id = readPackageId(r.package_id);
    if (typeof r.mirror !== "boolean") throw new Malformed("NewPackage.mirror: expected a bool");
    if (!blob || blob.bytes.length === 0) {
      return { response: { NewPackageResponse: "NoBlob" } };
    }
    try {
      newPackage(id, r.mirror, blob);
      return { response: { NewPackageResponse: "Success" } };
    } catch (e) {
      log(0, `error adding package ${id}: ${errorText(e)}`);
      return { response: { NewPackageResponse: "InstallFailed" } };
    }
  }
  if ("Install" in body) {
    const r = body.Install;
    if (!isObj(r)) throw new Malformed("Install: expected {package_id, version_hash, metadata}");
    const id = readPackageId(r.package_id);
    try {
      if (typeof r.version_hash !== "string") {
        throw new Malformed("Install.version_hash: expected a string");
      }
      const meta = r.metadata == null ? null : readMetadata(r.metadata, "Install.metadata");
      install(s, id, r.version_hash, meta);
      log(0, `successfully installed ${id}`);
      return { response: { InstallResponse: "Success" } };
    } catch (e) {
      log(0, `error installing package ${id}: ${errorText(e)}`);
      return { response: { InstallResponse: "Failure" } };
    }
  }
  if ("Uninstall" in body) {
    const id = readPackageId(body.Uninstall, "Uninstall");
    try {
      uninstall(s, id);
      log(0, `successfully uninstalled package ${id}`);
      return { response: { UninstallResponse: "Success" } };
    } catch (e) {
      log(0, `error uninstalling package ${id}: ${errorText(e)}`);
      return { response: { UninstallResponse: "Failure" } };
    }
  }
  if ("GetApi" in body) {
    const id = readPackageId(body.GetApi, "GetApi");
    const zip = s.apis.includes(id) ? vfsRead(`/${id}/pkg/api.zip`) : undefined;
    if (!zip) return { response: { GetApiResponse: "Failure" } };
    // as Hyperdrive labels it
    return {
      response: { GetApiResponse: "Success" },
      blob: { mime: "application/json", bytes: zip },
    };
  }
  throw new Malformed(`unknown request ${JSON.stringify(Object.keys(body)[0])}`);
}

// ---------------------------------------------------------------------------
// Messages from downloads: progress and completion (to the UI), auto-update results

const wsChannels = new Set<number>();

function pushAll(value: unknown): void {
  if (wsChannels.size === 0) return;
  const bytes = enc.encode(JSON.stringify(value));
  for (const id of wsChannels) {
    tell(HTTP_SERVER, { WebSocketPush: { channel_id: id, message_type: "Text" } }, [], {
      mime: "application/json",
      bytes,
    });
  }
}

function handleAutoDownloadComplete(s: Saved, v: Record<string, unknown>): void {
  if (isObj(v.Success)) {
    const succ = v.Success;
    const id = readPackageId(succ.package_id);
    const hash = String(succ.version_hash);
    const manifestHash = String(succ.manifest_hash);
    const installed = s.packages[id];
    // the same capabilities as the installed version: install it now
    if (installed && installed.manifest_hash === manifestHash) {
      try {
        install(s, id, hash, null);
        log(0, `auto-installed update for package: ${id}`);
        return;
      } catch (e) {
        log(0, `error auto-installing package: ${errorText(e)}`);
      }
    }
    (s.updates[id] ??= {})[hash] = { errors: [], pending_manifest_hash: manifestHash };
    saveState(s);
  } else if (isObj(v.Err)) {
    const err = v.Err;
    const id = readPackageId(err.package_id);
    log(0, `error auto-downloading package ${id}: ${JSON.stringify(err.tries)}`);
    (s.updates[id] ??= {})[String(err.version_hash)] = {
      errors: Array.isArray(err.tries) ? err.tries as [string, unknown][] : [],
      pending_manifest_hash: null,
    };
    saveState(s);
  }
}

// ---------------------------------------------------------------------------
// HTTP

interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

function jsonAnswer(status: number, value: unknown): HttpAnswer {
  return {
    status,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
    body: enc.encode(JSON.stringify(value)),
  };
}
function errAnswer(status: number, error: string): HttpAnswer {
  return jsonAnswer(status, { error });
}

function respondHttp(a: HttpAnswer): void {
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify({ status: a.status, headers: a.headers ?? {} })),
      metadata: undefined,
      capabilities: [],
    },
    a.body ? { mime: a.headers?.["Content-Type"], bytes: a.body } : undefined,
  );
}

/** Our UI files in the pkg drive, and where each is served (on our subdomain). */
const UI_FILES: { file: string; path: string; mime: string }[] = [
  { file: "ui/index.html", path: "/", mime: "text/html; charset=utf-8" },
  { file: "ui/app-store.css", path: "/app-store.css", mime: "text/css; charset=utf-8" },
  { file: "ui/app-store.js", path: "/app-store.js", mime: "application/javascript; charset=utf-8" },
  { file: "ui/icon.svg", path: "/icon.svg", mime: "image/svg+xml" },
];

const API_PATHS = [
  "/apps",
  "/downloads",
  "/installed",
  "/ourapps",
  "/updates",
  "/homepageapps",
  "/apps/:id",
  "/downloads/:id",
  "/installed/:id",
  "/manifest",
  "/apps/:id/download",
  "/apps/:id/install",
  "/downloads/:id/mirror",
  "/downloads/:id/remove",
  "/reset",
  "/apps/:id/auto-update",
  "/updates/:id/clear",
  "/mirrorcheck/:id/:node",
  "/togglepublic",
];

function bindAll(s: Saved): void {
  for (const f of UI_FILES) {
    const bytes = vfsRead(`${PKG_DRIVE}/${f.file}`);
    if (!bytes) {
      log(0, `missing ${f.file} in ${PKG_DRIVE}; ${f.path} not served`);
      continue;
    }
    bind({ SecureBind: { path: f.path, cache: true } }, { mime: f.mime, bytes });
  }
  for (const path of API_PATHS) bind({ SecureBind: { path, cache: false } });
  // on the main origin, for the homepage widget (public when the store is served publicly)
  bindPublic(s.is_serving_public);
  bind({ WebSocketSecureBind: { path: "/", extension: false } });
}

function bindPublic(open: boolean): void {
  for (const path of ["/apps-public", "/apps-public/:id"]) {
    bind({ Bind: { path, authenticated: !open, local_only: false, cache: false } });
  }
}

/** The bound path below our prefix: "/apps/:id", ... */
function route(boundPath: string): string {
  const prefix = `/${OUR_ID}`;
  const p = boundPath.startsWith(prefix) ? boundPath.slice(prefix.length) : boundPath;
  return p === "" ? "/" : p;
}

function postedJson(): Record<string, unknown> {
  const blob = getBlob() as Blob | undefined;
  if (!blob || blob.bytes.length === 0) return {};
  try {
    const v = JSON.parse(dec.decode(blob.bytes));
    if (!isObj(v)) throw new Malformed("body: expected a JSON object");
    return v;
  } catch (e) {
    if (e instanceof Malformed) throw e;
    throw new Malformed("body is not JSON");
  }
}

function needString(o: Record<string, unknown>, k: string): string {
  if (typeof o[k] !== "string") throw new Malformed(`No ${k} specified!`);
  return o[k] as string;
}

function packageInfo(id: string, p: PackageState) {
  const pid = packageIdJson(id);
  return {
    package_id: pid,
    our_version_hash: p.our_version_hash,
    publisher: pid.publisher_node,
    verified: p.verified,
    caps_approved: p.caps_approved,
  };
}

function chainCall(body: unknown): unknown {
  return call(CHAIN, body, { timeout: 10 }).answer;
}

function downloadsCall(body: unknown): unknown {
  return call(DOWNLOADS, body, { timeout: 10 }).answer;
}

function handleHttp(s: Saved, req: IncomingHttpRequest): HttpAnswer {
  const path = route(req.bound_path);
  const method = req.method;
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.url_params ?? {})) {
    try {
      params[k] = decodeURIComponent(v);
    } catch {
      params[k] = v;
    }
  }
  const id = () => parsePackageIdText(params.id ?? "");
  const only = (...methods: string[]) => {
    if (!methods.includes(method)) {
      throw new HttpError(405, `Invalid method ${method} for ${path}`);
    }
  };
  switch (path) {
    case "/apps":
    case "/apps-public": {
      only("GET");
      const a = chainCall("GetApps");
      if (!isObj(a) || !Array.isArray(a.GetApps)) {
        throw new Error(`chain answered ${JSON.stringify(a)}`);
      }
      return jsonAnswer(200, a.GetApps);
    }
    case "/apps/:id":
    case "/apps-public/:id": {
      const pkg = id();
      if (method === "GET") {
        const a = chainCall({ GetApp: packageIdJson(pkg) });
        if (!isObj(a) || !("GetApp" in a)) throw new Error(`chain answered ${JSON.stringify(a)}`);
        return jsonAnswer(200, a.GetApp);
      }
      if (method === "DELETE") {
        if (path.includes("public")) {
          return errAnswer(405, "Uninstalling apps is not allowed from public UI");
        }
        uninstall(s, pkg);
        log(0, `successfully uninstalled ${pkg}`);
        // Deno cannot send a body with 204
        return { status: 204 };
      }
      throw new HttpError(405, `Invalid method ${method} for ${path}`);
    }
    case "/downloads":
    case "/downloads/:id": {
      only("GET");
      const arg = path === "/downloads" ? null : packageIdJson(id());
      const a = downloadsCall({ GetFiles: arg });
      if (isObj(a) && Array.isArray(a.GetFiles)) return jsonAnswer(200, a.GetFiles);
      if (isObj(a) && "Err" in a && a.Err === "FileNotFound") return jsonAnswer(200, []);
      throw new Error(`Error from downloads: ${JSON.stringify(a)}`);
    }
    case "/manifest": {
      only("GET");
      const q = req.query_params ?? {};
      const pkg = parsePackageIdText(q.id ?? "");
      const hash = q.version_hash;
      if (!hash) return errAnswer(400, "Missing version_hash in query params.");
      const a = downloadsCall({ GetFiles: packageIdJson(pkg) });
      const files = isObj(a) && Array.isArray(a.GetFiles) ? a.GetFiles as unknown[] : [];
      const file = files.find((e) => isObj(e) && isObj(e.File) && e.File.name === `${hash}.zip`) as
        | { File: { manifest: string } }
        | undefined;
      if (!file) return errAnswer(404, `File with version hash ${hash} not found`);
      return jsonAnswer(200, {
        package_id: packageIdJson(pkg),
        version_hash: hash,
        manifest: file.File.manifest,
      });
    }
    case "/installed": {
      only("GET");
      const all = installedPackages(s);
      return jsonAnswer(200, Object.keys(all).sort().map((k) => packageInfo(k, all[k])));
    }
    case "/installed/:id": {
      only("GET");
      const pkg = id();
      const p = installedPackages(s)[pkg];
      if (!p) return errAnswer(404, `Package with id ${pkg} not found`);
      return jsonAnswer(200, packageInfo(pkg, p));
    }
    case "/ourapps": {
      only("GET");
      const a = chainCall("GetOurApps");
      if (!isObj(a) || !Array.isArray(a.GetOurApps)) {
        throw new Error(`chain answered ${JSON.stringify(a)}`);
      }
      return jsonAnswer(200, a.GetOurApps);
    }
    case "/homepageapps": {
      only("GET");
      const { answer } = call(HOMEPAGE, "GetApps", { timeout: 5 });
      return jsonAnswer(200, answer);
    }
    case "/apps/:id/download": {
      only("POST");
      const pkg = id();
      const body = postedJson();
      const from = needString(body, "download_from");
      const hash = needString(body, "version_hash");
      if (!PUBLISHER.test(from) && !/^https?:\/\//.test(from)) {
        throw new Malformed(`download_from: ${JSON.stringify(from)} is neither a node nor a URL`);
      }
      if (!/^[0-9a-f]{64}$/.test(hash)) {
        throw new Malformed("version_hash: expected 64 lowercase hex digits");
      }
      tell(DOWNLOADS, {
        LocalDownload: {
          package_id: packageIdJson(pkg),
          download_from: from,
          desired_version_hash: hash,
        },
      });
      return jsonAnswer(200, "Success");
    }
    case "/apps/:id/install": {
      only("POST");
      const pkg = id();
      const body = postedJson();
      const hash = needString(body, "version_hash");
      const approved = body.approved_capabilities;
      if (approved !== undefined && approved !== null && !Array.isArray(approved)) {
        throw new Malformed("approved_capabilities: expected a list of names");
      }
      try {
        install(s, pkg, hash, null, approved ? (approved as unknown[]).map(String) : undefined);
      } catch (e) {
        if (e instanceof Malformed) throw e;
        return errAnswer(503, errorText(e));
      }
      log(0, `successfully installed ${pkg}`);
      return { status: 201 };
    }
    case "/downloads/:id/mirror": {
      const pkg = packageIdJson(id());
      only("PUT", "DELETE");
      const a = downloadsCall(method === "PUT" ? { StartMirroring: pkg } : { StopMirroring: pkg });
      if (a !== "Success") throw new Error(`Error from downloads: ${JSON.stringify(a)}`);
      return jsonAnswer(200, null);
    }
    case "/downloads/:id/remove": {
      only("POST");
      const pkg = packageIdJson(id());
      const hash = needString(postedJson(), "version_hash");
      const a = downloadsCall({ RemoveFile: { package_id: pkg, version_hash: hash } });
      if (a !== "Success") throw new Error(`Error removing file: ${JSON.stringify(a)}`);
      return jsonAnswer(200, null);
    }
    case "/apps/:id/auto-update": {
      const pkg = packageIdJson(id());
      only("PUT", "DELETE");
      const a = chainCall(method === "PUT" ? { StartAutoUpdate: pkg } : { StopAutoUpdate: pkg });
      return jsonAnswer(200, a);
    }
    case "/updates": {
      only("GET");
      return jsonAnswer(200, s.updates);
    }
    case "/updates/:id/clear": {
      only("POST");
      delete s.updates[id()];
      saveState(s);
      return jsonAnswer(200, null);
    }
    case "/reset": {
      only("POST");
      const a = chainCall("Reset");
      return a === "ResetOk" ? jsonAnswer(200, null) : errAnswer(500, JSON.stringify(a));
    }
    case "/mirrorcheck/:id/:node": {
      only("GET");
      const node = params.node ?? "";
      if (!PUBLISHER.test(node)) return errAnswer(400, "Missing node");
      const pkg = packageIdJson(id());
      const target: Address = { node, process: DOWNLOADS.process };
      try {
        const { answer } = call(target, { MirrorCheck: pkg }, { timeout: 5 });
        const mirroring = answer === "Success";
        return jsonAnswer(200, {
          node,
          is_online: true,
          error: mirroring
            ? null
            : `node ${node} is not mirroring ${pkg.package_name}:${pkg.publisher_node}`,
        });
      } catch (e) {
        const kind = sendErrorKind(e);
        return jsonAnswer(200, {
          node,
          is_online: false,
          error: kind === "timeout" ? `node ${node} timed out` : `node ${node} is offline`,
        });
      }
    }
    case "/togglepublic": {
      if (method === "GET") return jsonAnswer(200, s.is_serving_public);
      only("POST");
      s.is_serving_public = !s.is_serving_public;
      bindPublic(s.is_serving_public);
      saveState(s);
      return jsonAnswer(200, s.is_serving_public);
    }
  }
  return errAnswer(404, `Path not found: ${path}`);
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function handleFromHttpServer(s: Saved, req: WitRequest): boolean {
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(dec.decode(req.body));
  } catch {
    return false;
  }
  if (!isObj(msg)) return false;
  if (isObj(msg.Http)) {
    let a: HttpAnswer;
    try {
      a = handleHttp(s, msg.Http as unknown as IncomingHttpRequest);
    } catch (e) {
      if (e instanceof HttpError) a = errAnswer(e.status, e.message);
      else if (e instanceof Malformed) a = errAnswer(400, e.message);
      else {
        log(1, `HTTP ${(msg.Http as { bound_path?: string }).bound_path}: ${errorText(e)}`);
        a = errAnswer(500, errorText(e));
      }
    }
    respondHttp(a);
    return true;
  }
  if (isObj(msg.WebSocketOpen)) {
    const id = msg.WebSocketOpen.channel_id;
    if (typeof id === "number") wsChannels.add(id);
    return true;
  }
  if (typeof msg.WebSocketClose === "number") {
    wsChannels.delete(msg.WebSocketClose);
    return true;
  }
  if (isObj(msg.WebSocketPush)) return true;
  return false;
}

// ---------------------------------------------------------------------------
// The homepage tile and widget

/** The widget: apps on the store, newest listings first, linking to their pages. */
export function makeWidget(): string {
  return `<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/hyperware.css">
<style>
body{margin:0;padding:16px 18px;background:transparent;font-family:var(--font-family-main);color:var(--hw-text)}
h3{margin:0 0 10px;font-size:13px;font-weight:600;letter-spacing:.02em;text-transform:uppercase;color:var(--hw-muted)}
#apps{display:grid;grid-template-columns:1fr;gap:6px}
@media (min-width:420px){#apps{grid-template-columns:1fr 1fr}}
.app{display:flex;align-items:center;gap:12px;padding:10px;border-radius:12px;color:inherit;text-decoration:none;min-width:0;transition:background .12s}
.app:hover{background:var(--hw-surface-2)}
.img{flex:none;width:40px;height:40px;border-radius:10px;background:var(--hw-accent) center/cover no-repeat;display:grid;place-items:center;color:#fff;font-weight:700}
.txt{min-width:0}
.txt b{display:block;font-size:14px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.txt span{display:block;font-size:12px;color:var(--hw-muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.empty{font-size:13px;color:var(--hw-muted);margin:8px 0}
.empty a{color:var(--hw-accent);font-weight:600;text-decoration:none}
</style></head><body>
<h3>Top apps</h3>
<div id="apps"><p class="empty">Loading…</p></div>
<script>
(() => {
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (!a || window.parent === window) return;
    e.preventDefault();
    window.parent.postMessage({ type: "HW_LINK_CLICKED", url: a.getAttribute("href") }, "*");
  });
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  async function load() {
    const box = document.getElementById("apps");
    try {
      const r = await fetch("/${OUR_ID}/apps-public", { credentials: "include" });
      const apps = (await r.json()).filter((a) => a.metadata);
      if (apps.length === 0) {
        box.innerHTML = '<p class="empty">No apps listed yet. <a href="/${OUR_ID}/">Open the App Store →</a></p>';
        return;
      }
      box.innerHTML = apps.slice(0, 6).map((a) => {
        const id = a.package_id.package_name + ":" + a.package_id.publisher_node;
        const m = a.metadata;
        const img = m.image ? ' style="background-image:url(' + encodeURI(m.image) + ')"' : "";
        const letter = m.image ? "" : esc((m.name || id)[0].toUpperCase());
        return '<a class="app" href="/${OUR_ID}/app/' + encodeURIComponent(id) + '"><span class="img"' + img + '>' + letter +
          '</span><span class="txt"><b>' + esc(m.name || id) + '</b><span>' + esc(m.description || id) + '</span></span></a>';
      }).join("");
    } catch {
      setTimeout(load, 2000);
    }
  }
  load();
})();
</script></body></html>`;
}

// ---------------------------------------------------------------------------

function answerLocal(
  req: WitRequest,
  value: unknown,
  blob?: Blob,
): void {
  if (req.expectsResponse === undefined) return;
  sendResponse(
    {
      inherit: false,
      body: enc.encode(JSON.stringify(value)),
      metadata: undefined,
      capabilities: [],
    },
    blob,
  );
}

function handleRequest(s: Saved, source: Address, req: WitRequest): void {
  if (source.node !== me.node) {
    log(1, `dropped a request from ${source.node}: the app store serves only this node`);
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(dec.decode(req.body));
  } catch {
    log(1, `dropped a request from ${pidString(source.process)}: body is not JSON`);
    return;
  }
  const from = pidString(source.process);
  const fromOurs = source.process.packageName === "app-store" &&
    source.process.publisherNode === "sys";
  // downloads:app-store:sys tells us about downloads (records, untagged as in Hyperdrive)
  if (fromOurs && isObj(body) && "downloaded" in body && "total" in body) {
    pushAll({ kind: "progress", data: body });
    return;
  }
  if (fromOurs && isObj(body) && "version_hash" in body && "err" in body) {
    pushAll({
      kind: "complete",
      data: { package_id: body.package_id, version_hash: body.version_hash, error: body.err },
    });
    return;
  }
  if (fromOurs && isObj(body) && (isObj(body.Success) || isObj(body.Err))) {
    handleAutoDownloadComplete(s, body);
    return;
  }
  try {
    const { response, blob } = handleLocal(
      s,
      body as Record<string, unknown> | string,
      getBlob() as Blob | undefined,
    );
    answerLocal(req, response, blob);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    log(0, `refused a request from ${from}: ${e.message}`);
    // Hyperdrive leaves a request it cannot parse unanswered; we answer its failure
    const tag = isObj(body) ? Object.keys(body)[0] : undefined;
    const failure = tag === undefined ? undefined : FAILURES[tag];
    if (failure) answerLocal(req, failure);
  }
}

const FAILURES: Record<string, LocalResponse> = {
  NewPackage: { NewPackageResponse: "InstallFailed" },
  Install: { InstallResponse: "Failure" },
  Uninstall: { UninstallResponse: "Failure" },
  GetApi: { GetApiResponse: "Failure" },
};

export function init(_our: string): void {
  const s = loadState();
  bindAll(s);
  const svg = vfsRead(`${PKG_DRIVE}/ui/icon.svg`);
  let icon: string | null = null;
  if (svg) {
    let bin = "";
    for (const b of svg) bin += String.fromCharCode(b);
    icon = `data:image/svg+xml;base64,${btoa(bin)}`;
  }
  tell(HOMEPAGE, { Add: { label: "App Store", icon, path: "/", widget: makeWidget() } });
  log(1, "serving the app store");
  for (;;) {
    let source: Address;
    let message: WitMessage;
    try {
      [source, message] = receive() as [Address, WitMessage];
    } catch (e) {
      log(1, `got network error: ${errorText(e)}`);
      continue;
    }
    if (message.tag !== "request") continue;
    const req = message.val;
    const fromHttp = source.node === me.node &&
      pidString(source.process) === "http-server:distro:sys";
    try {
      if (fromHttp && handleFromHttpServer(s, req)) continue;
      handleRequest(s, source, req);
    } catch (e) {
      log(0, `error handling a request from ${pidString(source.process)}: ${errorText(e)}`);
      if (req.expectsResponse === undefined) continue;
      try {
        if (fromHttp) respondHttp(errAnswer(500, errorText(e)));
      } catch { /* the answer itself failed */ }
    }
  }
}
