// Least privilege: the node runs under the permission set deno.json declares
// ("node", used by `deno task start` and `deno task compile`), not -A. The CLI
// boots and serves under it; a component and a JS process run under it; and it
// grants neither subprocesses nor writes to the runtime's own code.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { makePackage, withTempDir } from "../kernel/helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const MAIN = `${ROOT}main.ts`;
const CHILD = new URL("./permissions_child.ts", import.meta.url).pathname;
const PROBE = new URL("./permissions_probe.ts", import.meta.url).pathname;

/** `deno run --no-prompt -P=node` under the project's config: nothing may be asked for. */
function underSet(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--config=${CONFIG}`, "-P=node", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * The set's ffi entries with symlinks resolved. Deno loads a native addon from its real
 * path, and a checkout may share one node_modules through a symlink; resolving the
 * declared entries keeps the same scope (and fails if an entry does not exist).
 */
async function declaredFfi(): Promise<string> {
  const set = JSON.parse(await Deno.readTextFile(CONFIG)).permissions.node;
  const dirs = (set.ffi as string[]).map((p) => Deno.realPathSync(`${ROOT}${p}`));
  // the one addon jco-transpile loads is inside them
  const addon = Deno.realPathSync(`${ROOT}node_modules/@oxc-minify`);
  assert(dirs.some((d) => addon.startsWith(d)), `${addon} is outside ${dirs}`);
  return dirs.join(",");
}

async function hasFile(dir: string, name: string): Promise<boolean> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name === name) return true;
    if (e.isDirectory && await hasFile(`${dir}/${e.name}`, name)) return true;
  }
  return false;
}

/** Boots the CLI under the set (plus `flags`), checks /our, stops it with SIGTERM. */
async function cliAnswersOur(flags: string[], name: string) {
  await withTempDir(async (home) => {
    const child = underSet([
      ...flags,
      MAIN,
      home,
      "--detached",
      "--port",
      "0",
      "--tcp-port",
      "0",
      "--fake-node-name",
      name,
    ]).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 60_000;
    while (!/http: \S+\n/.test(seen) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    try {
      assertMatch(seen, new RegExp(`${name.replace(".", "\\.")} booted`));
      const url = seen.match(/http: (\S+)\n/)?.[1];
      assert(url, `no http line in ${JSON.stringify(seen)}`);
      const our = await fetch(`${url}/our`);
      assertEquals([our.status, await our.text()], [200, name]);
      // the distro's JS process was installed under the set too
      assertMatch(await Deno.readTextFile(`${home}/vfs/hello:sys/pkg/hello.ts`), /export function/);
    } finally {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
    }
    const { code } = await child.status;
    const errors = await stderr;
    assertEquals(code, 0, errors);
    assert(!/NotCapable|Requires \w+ access/.test(errors), errors);
  });
}

Deno.test("permissions: the CLI boots under the declared set and answers /our", async () => {
  await cliAnswersOur([], "least.dev");
});

Deno.test("permissions: with no env and no ffi the CLI still boots: jco-transpile loads on first use", async () => {
  // jco-transpile reads the whole environment and loads a native addon when imported
  await cliAnswersOur(["--deny-env", "--deny-ffi"], "lazy.dev");
});

Deno.test("permissions: a component (transpiled here) and a JS process run under the set", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "perm",
      processes: [{ name: "component" }, { name: "module", kind: "module" }],
    });
    const out = await underSet([
      `--allow-ffi=${await declaredFfi()}`,
      CHILD,
      `${root}/home`,
      dir,
      "perm:test.os",
    ]).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, stderr);
    const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
    assertEquals(JSON.parse(line), {
      "component our": "perm.dev@component:perm:test.os",
      "component state": "component state",
      "module our": "perm.dev@module:perm:test.os",
      "module state": "module state",
      "/our": "perm.dev",
    });
    // a fresh home, so jco transpiled the component under the set: its output is cached there
    assert(await hasFile(`${root}/home`, "component.js"), "no transpiled component.js in home");
  });
});

Deno.test("permissions: the set grants no subprocesses, no sys, and no writes to the runtime's code", async () => {
  await withTempDir(async (home) => {
    const probes: [Deno.PermissionDescriptor, string][] = [
      [{ name: "run" }, "prompt"],
      [{ name: "run", command: "sh" }, "prompt"],
      [{ name: "sys" }, "prompt"],
      [{ name: "ffi", path: "/usr/lib/libc.so.6" }, "prompt"],
      [{ name: "write", path: MAIN }, "denied"],
      [{ name: "write", path: `${ROOT}kernel/kernel.ts` }, "denied"],
      [{ name: "write", path: `${ROOT}node_modules/.bin` }, "denied"],
      [{ name: "write", path: `${ROOT}.git/hooks/pre-commit` }, "denied"],
      [{ name: "write", path: CONFIG }, "denied"],
      // what a node needs: its home (anywhere), reading, the network, the environment
      [{ name: "write", path: home }, "granted"],
      [{ name: "read", path: "/" }, "granted"],
      [{ name: "net" }, "granted"],
      [{ name: "env" }, "granted"],
    ];
    const out = await underSet([PROBE, ...probes.map(([d]) => JSON.stringify(d))]).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const states = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(
      probes.map(([d], i) => [d, states[i]]),
      probes.map(([d, want]) => [d, want]),
    );
  });
});
