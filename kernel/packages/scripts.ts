// A package's pkg/scripts.json: the scripts the terminal spawns.

import { isObject } from "../../wire/fields.ts";
import { isFile } from "./disk.ts";
import { errorText, InstallError } from "./manifest.ts";

/**
 * One script of a package's pkg/scripts.json (process_lib's DotScriptsEntry): how the
 * terminal spawns it. `root` gives it every capability the terminal holds.
 */
export interface ScriptEntry {
  root: boolean;
  public: boolean;
  request_networking: boolean;
  request_capabilities?: unknown[];
  grant_capabilities?: unknown[];
  wit_version?: number;
}

/**
 * pkg/scripts.json read as serde reads HashMap<String, DotScriptsEntry>: an object from
 * the script's file in pkg/ ("echo.wasm", "echo.ts") to its entry; root, public and
 * request_networking are required booleans, the rest optional (null as absent); other
 * fields are ignored. Throws naming the first problem.
 */
export function readScriptsJson(v: unknown, file: string): Map<string, ScriptEntry> {
  if (!isObject(v)) throw new Error(`${file}: expected an object from script file to entry`);
  const out = new Map<string, ScriptEntry>();
  for (const [name, e] of Object.entries(v)) {
    const at = `${file}: ${JSON.stringify(name)}`;
    if (!isObject(e)) throw new Error(`${at}: expected an object`);
    const flag = (k: string) => {
      if (typeof e[k] !== "boolean") throw new Error(`${at}: ${k} must be true or false`);
      return e[k] as boolean;
    };
    const list = (k: string) => {
      const l = e[k];
      if (l === undefined || l === null) return undefined;
      if (!Array.isArray(l)) throw new Error(`${at}: ${k} must be a list`);
      return l;
    };
    const wit = e.wit_version;
    if (
      wit !== undefined && wit !== null &&
      !(Number.isInteger(wit) && (wit as number) >= 0 && (wit as number) <= 0xffffffff)
    ) {
      throw new Error(`${at}: wit_version must be a u32`);
    }
    if (!/^[^/\\]+\.(wasm|ts|js)$/.test(name) || name.startsWith(".")) {
      throw new Error(`${at}: expected a script file in pkg/ ending in .wasm, .ts or .js`);
    }
    out.set(name, {
      root: flag("root"),
      public: flag("public"),
      request_networking: flag("request_networking"),
      request_capabilities: list("request_capabilities"),
      grant_capabilities: list("grant_capabilities"),
      wit_version: typeof wit === "number" ? wit : undefined,
    });
  }
  return out;
}

/** pkgDir/scripts.json, checked, with each script's file present; none: empty. */
export async function readPackageScripts(pkgDir: string): Promise<Map<string, ScriptEntry>> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${pkgDir}/scripts.json`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Map();
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InstallError(`pkg/scripts.json: not JSON: ${errorText(e)}`);
  }
  let scripts: Map<string, ScriptEntry>;
  try {
    scripts = readScriptsJson(json, "pkg/scripts.json");
  } catch (e) {
    throw new InstallError(errorText(e));
  }
  for (const name of scripts.keys()) {
    if (!(await isFile(`${pkgDir}/${name}`))) {
      throw new InstallError(`pkg/scripts.json: ${JSON.stringify(name)}: no such file in pkg/`);
    }
  }
  return scripts;
}
