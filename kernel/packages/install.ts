// The install (checked, then swapped in atomically, rolled back on failure), uninstall,
// and installPackage: a package directory on disk (bootNode and the distro).

import type { Kernel } from "../kernel.ts";
import {
  type Capability,
  capabilityToJson,
  checkProcessId,
  KERNEL_PROCESS_ID,
  networkingCap,
  type OnExit,
  parsePackageId,
  parseProcessId,
  type ProcessId,
  processIdToString,
  VFS_PROCESS_ID,
} from "../../wire/core.ts";
import { readCapability, type UserspaceProcess } from "../../wire/kernel.ts";
import { packageShares, ProgramLoader } from "../process_host/program.ts";
import { driveDir, vfsHostPath, vfsRoot } from "../vfs_layout.ts";
import {
  copyDir,
  exists,
  installsDir,
  readOldManifest,
  readPendingGrants,
  writePendingGrants,
} from "./disk.ts";
import {
  capabilityName,
  errorText,
  InstallError,
  manifestCap,
  type ManifestEntry,
  onExitOf,
  processFile,
  readManifest,
} from "./manifest.ts";
import { type KernelPort, kernelPort } from "./port.ts";
import { checkProgram } from "./probe.ts";
import { readPackageScripts } from "./scripts.ts";

export interface InstallContext {
  our: string;
  home: string;
  print(level: number, text: string, source: ProcessId): void;
  /** as the kernel loads components (KernelOptions.shareWorkers): checked as it will run them */
  shareWorkers?: boolean;
}

export interface InstallOptions {
  /** The package's wit_version (metadata.json's properties.wit_version). */
  witVersion?: number;
  /** How manifest.json is named in errors (default "manifest.json"). */
  manifestLabel?: string;
  /**
   * The app store's path: every requested capability must be well formed and name a
   * process that exists (or is in this package), else the package is refused. Without
   * it (the distro, bootNode) a malformed entry is printed and skipped, as Hyperdrive.
   */
  strictCapabilities?: boolean;
  /**
   * The capabilities the user approved, by capabilityName(); any requested one not in
   * the list refuses the package. Absent: all approved (kit, the distro).
   */
  approvedCapabilities?: string[];
}

export interface InstallResult {
  packageId: string;
  /** the package's processes, as started */
  processes: string[];
  /** true when it replaced a running version */
  upgraded: boolean;
}

/** Packages being installed or removed, per node home: one at a time each. */
const busy = new Set<string>();

/**
 * Installs the package whose pkg/ content is at `stagedPkg` (a directory the install
 * consumes: it becomes the package's pkg drive) and runs its processes, replacing a
 * running version atomically. Throws InstallError saying why it was refused; then the
 * running version, if any, still runs with its drive, state and capabilities.
 */
export async function installStaged(
  port: KernelPort,
  ctx: InstallContext,
  packageId: string,
  stagedPkg: string,
  opts: InstallOptions = {},
): Promise<InstallResult> {
  const pkg = (() => {
    try {
      const p = parsePackageId(packageId);
      checkProcessId({ processName: "x", ...p });
      return p;
    } catch (e) {
      throw new InstallError(`${JSON.stringify(packageId)} is not a package id: ${errorText(e)}`);
    }
  })();
  const key = `${ctx.home}|${packageId}`;
  if (busy.has(key)) {
    throw new InstallError(`${packageId} is being installed or removed already; try again`);
  }
  busy.add(key);
  try {
    return await install(port, ctx, packageId, pkg, stagedPkg, opts);
  } finally {
    busy.delete(key);
  }
}

interface PlannedProcess {
  id: ProcessId;
  pid: string;
  entry: ManifestEntry;
  handle: string;
  file: string;
  onExit: OnExit;
  caps: Capability[];
}

async function install(
  port: KernelPort,
  ctx: InstallContext,
  packageId: string,
  pkg: { packageName: string; publisherNode: string },
  stagedPkg: string,
  opts: InstallOptions,
): Promise<InstallResult> {
  const { our, home } = ctx;
  const label = opts.manifestLabel ?? "manifest.json";
  const log = (level: number, text: string) => ctx.print(level, text, KERNEL_PROCESS_ID);

  // 1. the package, read and checked; nothing is touched yet
  let manifestJson: unknown;
  try {
    manifestJson = JSON.parse(await Deno.readTextFile(`${stagedPkg}/manifest.json`));
  } catch (e) {
    throw new InstallError(
      e instanceof Deno.errors.NotFound
        ? `${label}: the package has no manifest.json`
        : `${label}: not JSON: ${errorText(e)}`,
    );
  }
  const manifest = readManifest(manifestJson, label);
  const scripts = await readPackageScripts(stagedPkg);
  const drive = `/${packageId}/pkg`;
  const existing = await port.processes();
  const ownNames = new Set<string>();
  const planned: PlannedProcess[] = [];
  for (const entry of manifest) {
    let id: ProcessId;
    try {
      id = checkProcessId({ processName: entry.process_name, ...pkg });
    } catch (e) {
      throw new InstallError(`${label}: ${entry.process_name}: ${errorText(e)}`);
    }
    const pid = processIdToString(id);
    if (ownNames.has(pid)) throw new InstallError(`${label}: ${pid} is listed twice`);
    ownNames.add(pid);
    const file = processFile(entry, label);
    planned.push({
      id,
      pid,
      entry,
      file,
      handle: `${drive}/${file}`,
      onExit: onExitOf(entry, label),
      caps: [],
    });
  }
  const refused: string[] = [];
  for (const p of planned) {
    const caps: Capability[] = [];
    for (const v of p.entry.request_capabilities) {
      const c = manifestCap(our, v, (why) => {
        if (opts.strictCapabilities) {
          refused.push(`${p.pid} asks for an invalid capability: ${why}`);
        } else log(0, `manifest requested invalid cap: ${JSON.stringify(v)}`);
      });
      if (!c) continue;
      const issuer = processIdToString(c.issuer.process);
      if (opts.strictCapabilities && !existing.has(issuer) && !ownNames.has(issuer)) {
        refused.push(`${p.pid} asks for a capability from ${issuer}, which does not exist here`);
        continue;
      }
      caps.push(c);
    }
    if (p.entry.request_networking) caps.push(networkingCap(our));
    if (opts.approvedCapabilities) {
      const approved = new Set(opts.approvedCapabilities);
      for (const c of caps) {
        const name = capabilityName(c);
        if (!approved.has(name)) refused.push(`${p.pid}: capability ${name} was not approved`);
      }
    }
    for (const kind of ["read", "write"]) {
      // serde_json's json!{..}.to_string(): keys sorted
      caps.push({
        issuer: { node: our, process: VFS_PROCESS_ID },
        params: JSON.stringify({ drive, kind }),
      });
    }
    p.caps = caps;
  }
  if (refused.length > 0) throw new InstallError(refused.join("; "));
  const grants: { from: PlannedProcess; to: ProcessId; cap: Capability }[] = [];
  for (const p of planned) {
    for (const v of p.entry.grant_capabilities) {
      const c = manifestCap(
        our,
        v,
        () => log(0, `${p.pid} manifest tried to grant invalid cap: ${JSON.stringify(v)}`),
      );
      if (!c) continue;
      // grant: this process issues the cap to the named process
      grants.push({
        from: p,
        to: c.issuer.process,
        cap: { issuer: { node: our, process: p.id }, params: c.params },
      });
    }
  }
  // every process file loads as the kernel will load it (a module's imports: from the staged files)
  const loader = new ProgramLoader(
    `${home}/cache/components`,
    (t) => log(1, `kernel: ${t}`),
    undefined,
    ctx.shareWorkers !== false,
  );
  const readStaged = (vfsPath: string) =>
    vfsPath.startsWith(`${drive}/`)
      ? Deno.readFile(`${stagedPkg}/${vfsPath.slice(drive.length + 1)}`)
      : Promise.reject(new Error(`${vfsPath} is not in the package`));
  // checked as the kernel will build them (lifecycle.ts)
  const share = packageShares(planned.map((p) => p.file));
  // read from their files (a component hashed by chunks, whole only when not cached), and
  // again from the vfs by the kernel: 10 components of 12 MB held here were 120 MB of garbage
  for (const p of planned) {
    const file = `${stagedPkg}/${p.file}`;
    if (!(await exists(file))) {
      throw new InstallError(`${p.pid}: ${p.entry.process_wasm_path} is not in the package`);
    }
    await checkProgram(loader, p.handle, file, p.pid, readStaged, share);
  }

  // 2. the swap: the old version's processes and drive are kept until the new one runs
  const old = new Map<string, UserspaceProcess>();
  const oldManifest = await readOldManifest(home, pkg);
  for (const name of new Set([...oldManifest, ...planned.map((p) => p.entry.process_name)])) {
    const pid = `${name}:${packageId}`;
    const proc = existing.get(pid);
    if (proc && proc.wasmBytesHandle !== "") old.set(pid, proc);
  }
  const live = driveDir(vfsRoot(home), pkg, "pkg");
  await Deno.mkdir(installsDir(home), { recursive: true });
  const backup = `${installsDir(home)}/previous-${packageId}-${crypto.randomUUID()}`;
  const hadDrive = await exists(live);
  const started: PlannedProcess[] = [];
  let swapped = false;
  let afterRun: (() => Promise<void>) | undefined;
  try {
    await Deno.mkdir(driveDir(vfsRoot(home), pkg, "tmp"), { recursive: true });
    if (hadDrive) await Deno.rename(live, backup);
    swapped = true;
    await Deno.rename(stagedPkg, live);
    for (const pid of old.keys()) await port.kill(parseProcessId(pid), false);
    for (const p of planned) {
      try {
        await port.initialize({
          id: p.id,
          handle: p.handle,
          witVersion: opts.witVersion,
          onExit: p.onExit,
          public: p.entry.public,
        });
      } catch (e) {
        throw new InstallError(`${p.pid} failed to initialize: ${errorText(e)}`);
      }
      started.push(p);
      await port.grant(p.id, p.caps);
    }
    // a grant to a process not installed yet waits for its install (the distro installs
    // packages one by one); grants others made to ours before we existed apply now
    const pending = await readPendingGrants(home);
    for (const g of grants) {
      const to = processIdToString(g.to);
      if (existing.has(to) || ownNames.has(to)) await port.grant(g.to, [g.cap]);
      else pending.push({ target: to, cap: capabilityToJson(g.cap) });
    }
    for (const w of pending.filter((w) => ownNames.has(w.target))) {
      await port.grant(parseProcessId(w.target), [readCapability(w.cap)]);
    }
    afterRun = () => writePendingGrants(home, pending.filter((w) => !ownNames.has(w.target)));
    for (const p of planned) {
      if (!(await port.run(p.id))) throw new InstallError(`${p.pid} failed to start`);
    }
  } catch (e) {
    if (!swapped) {
      throw new InstallError(`could not replace ${drive}: ${errorText(e)}`);
    }
    log(0, `${packageId}: install failed (${errorText(e)}); restoring the previous version`);
    await rollback(port, ctx, packageId, { live, backup, hadDrive, started, grants, old });
    throw e instanceof InstallError ? e : new InstallError(errorText(e));
  }
  await Deno.remove(backup, { recursive: true }).catch(() => {});
  await afterRun?.();
  // a component script is transpiled now, not when first typed at the terminal
  const components = [...scripts.keys()].filter((n) => n.endsWith(".wasm"));
  if (components.length > 0) {
    void (async () => {
      for (const name of components) {
        try {
          const handle = `${drive}/${name}`;
          await loader.loadFile(handle, vfsHostPath(vfsRoot(home), handle));
        } catch (e) {
          log(0, `${packageId}: script ${name} cannot run: ${errorText(e)}`);
        }
      }
    })();
  }
  return { packageId, processes: planned.map((p) => p.pid), upgraded: old.size > 0 };
}

/** Undoes a failed swap: the new processes gone, the old drive and processes back. */
async function rollback(
  port: KernelPort,
  ctx: InstallContext,
  packageId: string,
  s: {
    live: string;
    backup: string;
    hadDrive: boolean;
    started: PlannedProcess[];
    grants: { from: PlannedProcess; to: ProcessId; cap: Capability }[];
    old: Map<string, UserspaceProcess>;
  },
): Promise<void> {
  const log = (text: string) => ctx.print(0, `${packageId}: ${text}`, KERNEL_PROCESS_ID);
  const step = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      log(`rollback: ${what}: ${errorText(e)}`);
    }
  };
  // the caps the old version had issued stay (killed without revoking); only the new
  // version's own grants go
  for (const p of s.started) await step(`kill ${p.pid}`, () => port.kill(p.id, false));
  for (const g of s.grants) {
    await step("drop a grant", () => port.drop(g.to, [g.cap]));
  }
  await step("remove the new drive", () => Deno.remove(s.live, { recursive: true }));
  if (s.hadDrive) await step("restore the drive", () => Deno.rename(s.backup, s.live));
  for (const [pid, proc] of s.old) {
    await step(`restart ${pid}`, async () => {
      const id = parseProcessId(pid);
      await port.initialize({
        id,
        handle: proc.wasmBytesHandle,
        witVersion: proc.witVersion,
        onExit: proc.onExit,
        public: proc.public,
      });
      // the messaging cap to itself is made at initialize; the rest come back as they were
      await port.grant(id, proc.capabilities);
    });
  }
  for (const pid of s.old.keys()) {
    await step(`run ${pid}`, () => port.run(parseProcessId(pid)));
  }
}

/**
 * Removes a package: every one of its processes killed (revoking what they issued), its
 * pkg drive deleted. Other drives (data the app kept) stay, as in Hyperdrive. Packages
 * published by `sys` (the distro) are refused.
 */
export async function uninstallPackage(
  port: KernelPort,
  ctx: InstallContext,
  packageId: string,
): Promise<string[]> {
  let pkg: { packageName: string; publisherNode: string };
  try {
    pkg = parsePackageId(packageId);
    checkProcessId({ processName: "x", ...pkg });
  } catch (e) {
    throw new InstallError(`${JSON.stringify(packageId)} is not a package id: ${errorText(e)}`);
  }
  if (pkg.publisherNode === "sys") {
    throw new InstallError(`${packageId} is a system package and cannot be uninstalled`);
  }
  const key = `${ctx.home}|${packageId}`;
  if (busy.has(key)) {
    throw new InstallError(`${packageId} is being installed or removed already; try again`);
  }
  busy.add(key);
  try {
    const live = driveDir(vfsRoot(ctx.home), pkg, "pkg");
    const procs = [...(await port.processes()).entries()]
      .filter(([pid, p]) => pid.endsWith(`:${packageId}`) && p.wasmBytesHandle !== "")
      .map(([pid]) => pid);
    if (procs.length === 0 && !(await exists(live))) {
      throw new InstallError(`${packageId} is not installed`);
    }
    for (const pid of procs) await port.kill(parseProcessId(pid), true);
    const pending = await readPendingGrants(ctx.home);
    const kept = pending.filter((w) => !w.cap.issuer.endsWith(`:${packageId}`));
    if (kept.length !== pending.length) await writePendingGrants(ctx.home, kept);
    await Deno.remove(live, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    return procs;
  } finally {
    busy.delete(key);
  }
}

// ---------------------------------------------------------------------------
// bootNode's installPackage and the distro: a package directory on disk

/** Installs and starts every process of the package at `dir`; returns "pkg:publisher". */
export async function installPackage(
  kernel: Kernel,
  ctx: InstallContext,
  dir: string,
): Promise<string> {
  const metadata = JSON.parse(await Deno.readTextFile(`${dir}/metadata.json`));
  const props = metadata?.properties;
  if (!props?.package_name || !props?.publisher) {
    throw new Error(`${dir}/metadata.json: properties.package_name and publisher are required`);
  }
  const packageId = `${String(props.package_name)}:${String(props.publisher)}`;
  const witVersion = props.wit_version ?? undefined;
  if (witVersion !== undefined && !(Number.isInteger(witVersion) && witVersion >= 0)) {
    throw new Error(`${dir}/metadata.json: properties.wit_version must be a u32`);
  }
  await Deno.mkdir(installsDir(ctx.home), { recursive: true });
  const staged = `${installsDir(ctx.home)}/staged-${crypto.randomUUID()}`;
  try {
    await copyDir(`${dir}/pkg`, staged);
    const r = await installStaged(kernelPort(kernel), ctx, packageId, staged, {
      witVersion,
      manifestLabel: `${dir}/pkg/manifest.json`,
    });
    return r.packageId;
  } finally {
    await Deno.remove(staged, { recursive: true }).catch(() => {});
  }
}
