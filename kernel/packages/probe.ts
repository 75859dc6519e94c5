// Loading a process file as the kernel will, before anything is replaced: a component
// transpiled, a TS/JS module imported in a Worker without permissions.

import type { PackageFileReader, ProgramLoader } from "../process_host/program.ts";
import { linkModule, type ModuleFile } from "../process_host/module_graph.ts";
import { errorText, InstallError } from "./manifest.ts";

/** The standard API's functions, as a process module imports them. */
const STANDARD_FUNCTIONS = [
  "printToTerminal",
  "our",
  "getOnExit",
  "setOnExit",
  "getState",
  "setState",
  "clearState",
  "spawn",
  "saveCapabilities",
  "dropCapabilities",
  "ourCapabilities",
  "receive",
  "hasBlob",
  "getBlob",
  "lastBlob",
  "sendRequest",
  "sendRequests",
  "sendResponse",
  "sendAndAwaitResponse",
];

/**
 * A Worker (no permissions) that imports a process module as the process Worker does,
 * with every standard function answering a value that tolerates any use, and reports
 * whether it loads and exports init. It never calls init.
 */
const PROBE_SOURCE = `
const NAMES = ${JSON.stringify(STANDARD_FUNCTIONS)};
const linkModule = ${linkModule.toString()};
self.onmessage = async (e) => {
  const { files } = e.data;
  const anything = new Proxy(function () {}, {
    get(_t, k) {
      if (k === Symbol.toPrimitive) return () => "";
      if (k === Symbol.iterator) return function* () {};
      if (k === "then") return undefined;
      return anything;
    },
    apply() { return anything; },
    construct() { return anything; },
  });
  globalThis.__probeStandard = anything;
  const shim = NAMES.map((n) => "export const " + n + " = (...a) => globalThis.__probeStandard." + n + "(...a);").join("\\n");
  const shimUrl = "data:application/javascript;base64," + btoa(shim);
  try {
    const mod = await import(linkModule(files, shimUrl));
    postMessage(typeof mod.init === "function" ? { ok: true } : { error: "process module does not export init()" });
  } catch (err) {
    postMessage({ error: (err && err.message) ? String(err.message).split("\\n")[0] : String(err) });
  }
};
`;

/** How long a module may take to load in the probe (a shared CPU may be slow). */
const PROBE_TIMEOUT_MS = 30_000;

function probeModule(files: ModuleFile[]): Promise<string | undefined> {
  const url = URL.createObjectURL(new Blob([PROBE_SOURCE], { type: "text/javascript" }));
  const worker = new Worker(url, {
    type: "module",
    name: "package probe",
    deno: {
      permissions: {
        env: false,
        ffi: false,
        import: false,
        net: false,
        read: false,
        run: false,
        sys: false,
        write: false,
      },
    },
  } as WorkerOptions);
  URL.revokeObjectURL(url);
  return new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => {
      worker.terminate();
      resolve(`did not finish loading within ${PROBE_TIMEOUT_MS / 1000} s`);
    }, PROBE_TIMEOUT_MS);
    const done = (error?: string) => {
      clearTimeout(timer);
      worker.terminate();
      resolve(error);
    };
    worker.onmessage = (e: MessageEvent<{ ok?: boolean; error?: string }>) =>
      done(e.data.ok ? undefined : e.data.error ?? "failed to load");
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      done(e.message);
    };
    worker.postMessage({ files });
  });
}

/** Loads a process file as the kernel will; throws InstallError saying why it cannot run. */
export async function checkProgram(
  loader: ProgramLoader,
  path: string,
  file: string,
  label: string,
  read?: PackageFileReader,
  share?: boolean,
): Promise<void> {
  try {
    const program = await loader.loadFile(path, file, read, share);
    if (program.kind === "module") {
      const error = await probeModule(program.files);
      if (error) throw new Error(error);
    }
  } catch (e) {
    throw new InstallError(`${label} cannot run: ${errorText(e)}`);
  }
}
