// The runtime tree: the files .dockerignore lets into the Docker image, copied into a directory
// with node_modules dereferenced. It is the image's build context where node_modules is a
// symlink (worktrees sharing one install), and what the release compiles into one binary:
// `deno compile` embeds a manual node_modules directory whole (Deno cannot tell which files a
// package reads), so compiling in the checkout would carry every dev tool.
//
//   deno run -A tests/docker/stage.ts <dir>                stage the tree (with the Deno binary)
//   deno run -A tests/docker/stage.ts --compile <output>   stage it without Deno, then run
//                                                          deno.json's compile task in it
//
// .dockerignore is read as this project writes it: `*`, then `!path` lines letting paths back
// in (a * only in a path's last segment), then lines leaving parts of those out again (a path,
// or `dir/**/*.ext`). tests/docker/docker.test.ts checks the staged tree is the image's /app.

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

function globRe(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*");
  return new RegExp(`^${esc}$`);
}

/** Paths under `base` matching `pattern` (a * only in its last segment). */
async function expand(base: string, pattern: string): Promise<string[]> {
  const parts = pattern.split("/");
  const last = parts.pop()!;
  const parent = parts.join("/");
  if (!last.includes("*")) {
    try {
      await Deno.stat(`${base}/${pattern}`);
      return [pattern];
    } catch {
      return [];
    }
  }
  const re = globRe(last);
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${base}/${parent}`)) {
      if (re.test(e.name)) out.push(parent ? `${parent}/${e.name}` : e.name);
    }
  } catch {
    // a folder this install does not have (another platform's scope)
  }
  return out.sort();
}

async function removeMatching(dir: string, re: RegExp): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await removeMatching(p, re);
    else if (re.test(e.name)) await Deno.remove(p);
  }
}

async function cp(args: string[]): Promise<void> {
  const out = await new Deno.Command("cp", { args, stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`cp ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Copies the runtime tree into `dir` (created); `deno: false` leaves the Deno binary out. */
export async function stage(dir: string, { deno = true }: { deno?: boolean } = {}): Promise<void> {
  const lines = (await Deno.readTextFile(`${ROOT}/.dockerignore`)).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#") && l !== "*");
  await Deno.mkdir(dir, { recursive: true });
  for (const line of lines.filter((l) => l.startsWith("!"))) {
    const pattern = line.slice(1).replace(/\/$/, "");
    for (const rel of await expand(ROOT, pattern)) {
      const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
      await Deno.mkdir(`${dir}/${parent}`, { recursive: true });
      await cp(["-rL", `${ROOT}/${rel}`, `${dir}/${parent}`]);
    }
  }
  for (const line of lines.filter((l) => !l.startsWith("!"))) {
    const pattern = line.replace(/\/$/, "");
    const deep = pattern.indexOf("**/");
    if (deep >= 0) {
      const base = `${dir}/${pattern.slice(0, deep)}`.replace(/\/$/, "");
      await removeMatching(base, globRe(pattern.slice(deep + 3)));
    } else {
      for (const rel of await expand(dir, pattern)) {
        await Deno.remove(`${dir}/${rel}`, { recursive: true });
      }
    }
  }
  if (!deno) await Deno.remove(`${dir}/node_modules/@deno`, { recursive: true }).catch(() => {});
}

/** deno.json's compile task, run by this Deno in a staged tree; the binary lands at `output`. */
async function compile(output: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-compile-" });
  try {
    await stage(dir, { deno: false });
    const task: string = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks.compile;
    const prefix = "./node_modules/deno/deno compile ";
    if (!task.startsWith(prefix) || /[;&|<>$`'"]/.test(task)) {
      throw new Error(`deno.json's compile task is not a plain deno compile: ${task}`);
    }
    const args = task.slice(prefix.length).split(/\s+/).filter(Boolean);
    const out = await new Deno.Command(Deno.execPath(), {
      // type checking is the checkout's (deno task check): the tree has no type packages
      args: ["compile", "--no-check", ...args],
      cwd: dir,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (out.code !== 0) Deno.exit(out.code);
    const i = args.indexOf("--output");
    const built = `${dir}/${i >= 0 ? args[i + 1] : "main"}`;
    await cp([built, output]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const [a, b] = Deno.args;
  if (a === "--compile" && b) await compile(b.startsWith("/") ? b : `${Deno.cwd()}/${b}`);
  else if (a && !a.startsWith("-")) await stage(a);
  else {
    console.error("usage: stage.ts <dir> | stage.ts --compile <output>");
    Deno.exit(2);
  }
}
