// `deno task new <DIR>`: kit new. Writes a package from a template into DIR (relative to where
// the task was run): kit's chat, echo and fibonacci templates written in TypeScript with
// hyperdeno's SDK (kit/templates/), each with kit's API, its test/ (tests.toml and a test
// package for `deno task run-tests`), and with --ui (chat) a web UI.

import { type Parsed, UsageError, userPath, type VerbSpec } from "./args.ts";

const TEMPLATES = new URL("./templates/", import.meta.url).pathname;
/** kit's templates; those hyperdeno has in TypeScript are marked. */
const KIT_TEMPLATES = ["blank", "chat", "echo", "fibonacci", "file-transfer", "hyperapp-skeleton"];
const AVAILABLE = ["chat", "echo", "fibonacci"];

export const NEW: VerbSpec = {
  name: "new",
  alias: "n",
  about: "Create a Hyperware template package (TypeScript, hyperdeno's SDK)",
  args: [
    {
      name: "DIR",
      positional: true,
      required: true,
      help: "Path to create template directory at (must contain only a-z, 0-9, `-`)",
    },
    {
      name: "package",
      long: "package",
      short: "a",
      help: "Name of the package (must contain only a-z, 0-9, `-`) [default: DIR]",
    },
    {
      name: "publisher",
      long: "publisher",
      short: "u",
      default: "template.os",
      help: "Name of the publisher (must contain only a-z, 0-9, `-`, `.`)",
    },
    {
      name: "language",
      long: "language",
      short: "l",
      default: "typescript",
      choices: ["typescript", "rust"],
      help: "Programming language of the template (hyperdeno's are TypeScript; Rust: use kit)",
    },
    {
      name: "template",
      long: "template",
      short: "t",
      default: "chat",
      choices: KIT_TEMPLATES,
      help: `Template to create (in TypeScript: ${AVAILABLE.join(", ")})`,
    },
    { name: "ui", long: "ui", flag: true, help: "If set, use the template with UI" },
  ],
};

/** kit's is_hypermap_safe. */
export function isHypermapSafe(s: string, publisher: boolean): boolean {
  return (publisher ? /^[a-z0-9\-.]+$/ : /^[a-z0-9-]+$/).test(s);
}

/** The placeholders a template's paths and files use. */
export function templateVars(pkg: string, publisher: string): Record<string, string> {
  return {
    package: pkg,
    publisher,
    // kit's replace_dots: "template.os" -> "template-dot-os" (WIT world names)
    publisher_kebab: publisher.split(".").join("-dot-"),
  };
}

function fill(text: string, vars: Record<string, string>): string {
  // (deno fmt writes `{{ package }}` in HTML)
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, k) => vars[k] ?? m);
}

async function listFiles(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) out.push(...await listFiles(dir, child));
      else if (e.isFile) out.push(child);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

export interface NewOptions {
  dir: string;
  packageName?: string;
  publisher?: string;
  template?: string;
  ui?: boolean;
}

/** kit new: writes the template; returns the files written (relative to dir). */
export async function newPackage(opts: NewOptions): Promise<string[]> {
  const dir = opts.dir.replace(/\/+$/, "");
  const publisher = opts.publisher ?? "template.os";
  const template = opts.template ?? "chat";
  let exists = true;
  try {
    await Deno.lstat(dir);
  } catch {
    exists = false;
  }
  if (exists) {
    throw new Error(
      `Directory "${dir}" already exists. \`deno task new\` creates a new directory to place the ` +
        "template in. Either remove given directory or provide a non-existing directory to create.",
    );
  }
  const fromDir = opts.packageName === undefined;
  const pkg = opts.packageName ?? dir.slice(dir.lastIndexOf("/") + 1);
  if (pkg === "api" || pkg === "test") {
    throw new Error(`Package name ${pkg} not allowed; cannot be in {"api", "test"}.`);
  }
  if (!isHypermapSafe(pkg, false)) {
    throw new Error(
      fromDir
        ? `\`package_name\` (derived from given directory "${dir}") '${pkg}' must be Hypermap safe (a-z, 0-9, - allowed).`
        : `\`package_name\` '${pkg}' must be Hypermap safe (a-z, 0-9, - allowed).`,
    );
  }
  if (!isHypermapSafe(publisher, true)) {
    throw new Error(`\`publisher\` '${publisher}' must be Hypermap safe (a-z, 0-9, -, . allowed).`);
  }
  if (!AVAILABLE.includes(template)) {
    throw new Error(
      `The typescript/${template}/${opts.ui ? "'yes ui'" : "'no ui'"} language/template/ui ` +
        `combination isn't available. TypeScript templates: ${AVAILABLE.join(", ")}.`,
    );
  }
  const base = `${TEMPLATES}${template}`;
  const overlay = `${TEMPLATES}ui/${template}`;
  const overlayFiles = opts.ui ? await listFiles(overlay) : [];
  if (opts.ui && overlayFiles.length === 0) {
    throw new Error(`cannot use \`--ui\` for typescript ${template}; template does not exist`);
  }
  const files = new Map<string, string>();
  for (const f of await listFiles(base)) files.set(f, `${base}/${f}`);
  for (const f of overlayFiles) files.set(f, `${overlay}/${f}`);
  const vars = templateVars(pkg, publisher);
  const written: string[] = [];
  for (const [rel, src] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const target = `${dir}/${fill(rel, vars)}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(target, fill(await Deno.readTextFile(src), vars));
    written.push(fill(rel, vars));
  }
  return written.sort();
}

export async function runNew(args: Parsed): Promise<void> {
  const v = args.values;
  if (v.language === "rust") {
    throw new UsageError("hyperdeno's templates are TypeScript (-l typescript); for Rust, use kit");
  }
  const dir = userPath(v.DIR as string);
  await newPackage({
    dir,
    packageName: v.package as string | undefined,
    publisher: v.publisher as string,
    template: v.template as string,
    ui: v.ui as boolean,
  });
  console.log(`Template directory created successfully at "${dir}".`);
}
