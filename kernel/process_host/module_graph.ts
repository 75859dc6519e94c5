// A TS/JS process module may import other files of its own package by relative path
// (`import { x } from "./lib/msgpack.ts"`), so a package's processes can share code. The
// kernel reads those files when it loads the module (program.ts), never the Worker: a
// process Worker has no read permission, and it imports each file as a data: URL, which
// has no base to resolve a relative path against. So the loader collects the graph and
// rewrites each relative specifier to a placeholder naming the file's place in the list;
// linkModule() (in the Worker) turns the list into data: URLs, dependencies first.
//
// Only static specifiers that start with ./ or ../ and name the file with its extension
// (as Deno requires) are followed; they must stay inside the importing file's drive.

/** One file of a module's graph, its relative specifiers already rewritten. */
export interface ModuleFile {
  source: string;
  mediaType: "typescript" | "javascript";
  /** its vfs path, for errors and stack traces */
  file: string;
}

/** A module's own file (the last) and its dependencies, each after those it imports. */
export interface ModuleGraph {
  files: ModuleFile[];
}

/** Files one process module may pull in, and their bytes in all. */
export const MAX_MODULE_FILES = 64;
export const MAX_MODULE_BYTES = 16 * 1024 * 1024;

/**
 * Static relative specifiers, on a line that starts an import or export (or closes a
 * multi-line import list): `import { a } from "./x.ts"`, `import "./x.ts"`,
 * `export * from "../x.ts"`, `} from "./x.ts"`. A comment or a string that merely
 * contains such text is not an import, so a line must start with the statement.
 */
const RELATIVE_IMPORT =
  /^(\s*(?:(?:import|export)\b[^\n]*?\bfrom|import|\}[^\n]*?\bfrom)\s*)(["'])(\.\.?\/[^"'\n]*)\2/gm;

const EXTENSIONS: Record<string, ModuleFile["mediaType"]> = {
  ".ts": "typescript",
  ".mts": "typescript",
  ".js": "javascript",
  ".mjs": "javascript",
};

/** The media type a module file's name gives it, or undefined if it is not one. */
export function moduleMediaType(path: string): ModuleFile["mediaType"] | undefined {
  const dot = path.lastIndexOf(".");
  return dot < 0 ? undefined : EXTENSIONS[path.slice(dot)];
}

/** `spec` resolved against the vfs path `from`, or why it may not be followed. */
function resolve(from: string, spec: string): string {
  const path = decodeURIComponent(new URL(spec, `file://${from}`).pathname);
  // the importing file's drive: /<package_id>/<drive>/
  const drive = from.split("/").slice(0, 3).join("/") + "/";
  if (!path.startsWith(drive)) {
    throw new Error(`${from} imports ${spec}, which is outside its drive ${drive}`);
  }
  if (!moduleMediaType(path)) {
    throw new Error(`${from} imports ${spec}: name the file with .ts, .mts, .js or .mjs`);
  }
  return path;
}

/**
 * The graph of the module at vfs path `file` with text `source` (of `mediaType`: the
 * loader also takes .tsx): every file it imports
 * by relative path, read with `read` (a vfs path's bytes). Throws on a missing file, an
 * import cycle, a path outside the drive or the limits above.
 */
export async function collectModuleGraph(
  file: string,
  source: string,
  mediaType: ModuleFile["mediaType"],
  read: (vfsPath: string) => Promise<Uint8Array>,
): Promise<ModuleGraph> {
  const files: ModuleFile[] = [];
  const done = new Map<string, number>();
  const visiting: string[] = [];
  let bytes = source.length;
  const decoder = new TextDecoder("utf-8", { fatal: true });

  async function visit(path: string, text: string): Promise<number> {
    visiting.push(path);
    const specs = [...text.matchAll(RELATIVE_IMPORT)];
    const index = new Map<string, number>();
    for (const m of specs) {
      const spec = m[3];
      if (index.has(spec)) continue;
      const dep = resolve(path, spec);
      if (visiting.includes(dep)) {
        throw new Error(`import cycle: ${[...visiting, dep].join(" -> ")}`);
      }
      let at = done.get(dep);
      if (at === undefined) {
        if (done.size + visiting.length >= MAX_MODULE_FILES) {
          throw new Error(`${file} imports more than ${MAX_MODULE_FILES} files`);
        }
        let depBytes: Uint8Array;
        try {
          depBytes = await read(dep);
        } catch {
          throw new Error(`${path} imports ${spec}, which its package does not hold (${dep})`);
        }
        bytes += depBytes.length;
        if (bytes > MAX_MODULE_BYTES) {
          throw new Error(`${file} and its imports are over ${MAX_MODULE_BYTES} bytes`);
        }
        let depText: string;
        try {
          depText = decoder.decode(depBytes);
        } catch {
          throw new Error(`${dep} is not valid UTF-8 text`);
        }
        at = await visit(dep, depText);
        done.set(dep, at);
      }
      index.set(spec, at);
    }
    visiting.pop();
    const rewritten = text.replace(
      RELATIVE_IMPORT,
      (_m, lead: string, _q: string, spec: string) =>
        `${lead}${JSON.stringify(`hyperdeno:dep/${index.get(spec)}`)}`,
    );
    files.push({
      source: rewritten,
      mediaType: path === file ? mediaType : moduleMediaType(path)!,
      file: path,
    });
    return files.length - 1;
  }

  await visit(file, source);
  return { files };
}

/**
 * A graph's files as data: URLs, dependencies first; returns the module's own URL.
 * `standardUrl` replaces the standard API's specifier. Self-contained (no closures or
 * imports): the package probe runs its source text in a bare Worker.
 */
export function linkModule(files: ModuleFile[], standardUrl: string): string {
  const urls: string[] = [];
  for (const f of files) {
    const text = f.source
      .replace(/(["'])hyperware:process\/standard@1\.0\.0\1/g, JSON.stringify(standardUrl))
      .replace(/(["'])hyperdeno:dep\/(\d+)\1/g, (_m, _q, i) => JSON.stringify(urls[Number(i)]));
    const bytes = new TextEncoder().encode(text);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    const mime = f.mediaType === "typescript" ? "application/typescript" : "application/javascript";
    urls.push(`data:${mime};base64,${btoa(bin)}`);
  }
  return urls[urls.length - 1];
}
