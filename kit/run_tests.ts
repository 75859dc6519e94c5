// `deno task run-tests [PATH]`: kit run-tests. PATH is a tests.toml, a directory holding one,
// or a directory holding test/tests.toml (kit's three cases). For each [[tests]]:
//
//   build the dependency, setup and test packages (deno task build);
//   start the chain on fakechain_router (or use the one running there), run setup_scripts;
//   boot [[tests.nodes]] as fake nodes (home, port, fake_node_name, password, rpc,
//   runtime_verbosity) with --expose-local, each with hyperdeno's tester:sys (kit/tester);
//   on every node: start the setup packages with `run = true` (through the app store, as
//   start-package does; bootNode's install where no app store runs) and write their components
//   to /tester:sys/setup; on the first node: the test packages' components to
//   /tester:sys/tests and their capabilities to tests/capabilities.json, all through kit's RPC;
//   send {"Run": ...} to every other node's tester, then to the first node's, whose answer is
//   the result; run test_scripts; PASS, or FAIL with the failing test.
//
// The nodes run in this process (bootNode), so their output is kept and printed when a test
// fails or with always_print_node_output. `runtime` and `runtime_build_release` name a
// Hyperdrive to run: hyperdeno runs itself and ignores them.

import type { HyperdenoNode } from "../node.ts";
import { encodeIndexerRequest, parseIndexerResponse } from "../wire/hns_indexer.ts";
import { type Parsed, userPath, type VerbSpec } from "./args.ts";
import { buildPackage } from "./build.ts";
import { ensureChain } from "./chain.ts";
import { makeMessage, nodeUrl, request, sendRequest, sortedJson } from "./rpc.ts";
import { APP_STORE, startPackage } from "./start_package.ts";
import { parseToml } from "./toml.ts";

const TESTER_DIR = new URL("./tester", import.meta.url).pathname;

export const RUN_TESTS: VerbSpec = {
  name: "run-tests",
  alias: "t",
  about: "Run Hyperware tests",
  args: [{
    name: "PATH",
    positional: true,
    default: ".",
    help: "Path to tests configuration file (or test dir) [default: the current directory]",
  }],
};

export interface TestNode {
  port: number;
  home: string;
  fake_node_name: string;
  password?: string;
  rpc?: string;
  runtime_verbosity?: number;
}

export interface TestSpec {
  dependency_package_paths: string[];
  setup_packages: { path: string; run: boolean }[];
  setup_scripts: string[];
  test_package_paths: string[];
  test_scripts: string[];
  timeout_secs: number;
  fakechain_router: number;
  nodes: TestNode[];
  hyperapp?: boolean;
  features?: string[];
}

export interface TestsConfig {
  runtime: { FetchVersion: string } | { RepoPath: string };
  runtime_build_release: boolean;
  persist_home: boolean;
  always_print_node_output: boolean;
  tests: TestSpec[];
}

function need<T>(
  o: Record<string, unknown>,
  key: string,
  check: (v: unknown) => boolean,
  at: string,
): T {
  if (!(key in o)) throw new Error(`tests.toml: missing field \`${key}\`${at}`);
  if (!check(o[key])) throw new Error(`tests.toml: invalid type for \`${key}\`${at}`);
  return o[key] as T;
}
const isStrings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
const isU16 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
const isBool = (v: unknown) => typeof v === "boolean";

/** tests.toml read as kit's serde Config: every field kit requires, of its type. */
export function readConfig(text: string): TestsConfig {
  const raw = parseToml(text) as Record<string, unknown>;
  const runtime = need<Record<string, unknown>>(
    raw,
    "runtime",
    (v) =>
      !!v && typeof v === "object" &&
      (typeof (v as Record<string, unknown>).FetchVersion === "string" ||
        typeof (v as Record<string, unknown>).RepoPath === "string"),
    "",
  );
  const tests = need<Record<string, unknown>[]>(raw, "tests", Array.isArray, "");
  return {
    runtime: runtime as TestsConfig["runtime"],
    runtime_build_release: need(raw, "runtime_build_release", isBool, ""),
    persist_home: need(raw, "persist_home", isBool, ""),
    always_print_node_output: need(raw, "always_print_node_output", isBool, ""),
    tests: tests.map((t, i) => {
      const at = ` in [[tests]] #${i + 1}`;
      const nodes = need<Record<string, unknown>[]>(t, "nodes", Array.isArray, at);
      if (nodes.length === 0) throw new Error(`tests.toml: [[tests]] #${i + 1} has no nodes`);
      return {
        dependency_package_paths: need(t, "dependency_package_paths", isStrings, at),
        setup_packages: need<{ path: string; run: boolean }[]>(
          t,
          "setup_packages",
          (v) =>
            Array.isArray(v) &&
            v.every((s) => typeof s?.path === "string" && typeof s?.run === "boolean"),
          at,
        ),
        setup_scripts: need(t, "setup_scripts", isStrings, at),
        test_package_paths: need(t, "test_package_paths", isStrings, at),
        test_scripts: need(t, "test_scripts", isStrings, at),
        timeout_secs: need(t, "timeout_secs", (v) => Number.isInteger(v) && (v as number) >= 0, at),
        fakechain_router: need(t, "fakechain_router", isU16, at),
        hyperapp: t.hyperapp as boolean | undefined,
        features: t.features as string[] | undefined,
        nodes: nodes.map((n, j) => {
          const nat = ` in [[tests.nodes]] #${j + 1}${at}`;
          return {
            port: need(n, "port", isU16, nat),
            home: need(n, "home", (v) => typeof v === "string", nat),
            fake_node_name: need(n, "fake_node_name", (v) => typeof v === "string", nat),
            password: n.password as string | undefined,
            rpc: n.rpc as string | undefined,
            runtime_verbosity: n.runtime_verbosity as number | undefined,
          };
        }),
      };
    }),
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** kit's load_config cases: a .toml file, DIR/tests.toml, DIR/test/tests.toml. */
export async function findConfig(path: string): Promise<string> {
  if (await isFile(path)) return path;
  for (const p of [`${path}/tests.toml`, `${path}/test/tests.toml`]) {
    if (await isFile(p)) return p;
  }
  throw new Error(`Could not find \`tests.toml within given path "${path}"`);
}

function expandHome(p: string): string | undefined {
  const home = Deno.env.get("HOME");
  return p.startsWith("~/") && home ? `${home}${p.slice(1)}` : undefined;
}

function resolveFrom(dir: string, p: string): string {
  const home = expandHome(p);
  if (home) return home;
  if (p.startsWith("/")) return p;
  const parts = dir.split("/");
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") parts.pop();
    else parts.push(s);
  }
  return parts.join("/");
}

/** kit's make_node_names: each node's home directory name, `.os` added without a dot. */
export function nodeNames(nodes: TestNode[]): string[] {
  return nodes.map((n) => {
    const base = n.home.replace(/\/+$/, "").split("/").pop() ?? "";
    if (!base) throw new Error(`run_tests: did not find basename for ${n.home}`);
    return base.includes(".") ? base : `${base}.os`;
  });
}

const HNS = "our@hns-indexer:hns-indexer:sys";

interface Booted {
  node: HyperdenoNode;
  spec: TestNode;
  url: string;
  output: string[];
}

async function waitFor<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function vfsWrite(url: string, path: string, bytes: Uint8Array): Promise<void> {
  const body = sortedJson({ path, action: "Write" });
  try {
    await request(url, makeMessage("vfs:distro:sys", 15, body, null, bytes));
  } catch (e) {
    throw new Error(`Failed to load ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** kit's load_process: every .wasm in the package's pkg/ written to /tester:sys/<drive>/. */
async function loadProcesses(url: string, pkgDir: string, drive: string): Promise<void> {
  for await (const e of Deno.readDir(`${pkgDir}/pkg`)) {
    if (!e.isFile || !e.name.endsWith(".wasm")) continue;
    await vfsWrite(
      url,
      `/tester:sys/${drive}/${e.name}`,
      await Deno.readFile(`${pkgDir}/pkg/${e.name}`),
    );
  }
}

/** kit's load_caps: each test package's manifest capabilities, by its directory name. */
async function testCaps(paths: string[]): Promise<Uint8Array> {
  const caps: Record<string, unknown> = {};
  for (const p of paths) {
    const manifest = JSON.parse(await Deno.readTextFile(`${p}/pkg/manifest.json`));
    if (!Array.isArray(manifest) || manifest.length !== 1) {
      throw new Error(`${p}/pkg/manifest.json: a test package has exactly one process`);
    }
    caps[p.replace(/\/+$/, "").split("/").pop()!] = {
      request_capabilities: manifest[0].request_capabilities ?? [],
      grant_capabilities: manifest[0].grant_capabilities ?? [],
    };
  }
  return new TextEncoder().encode(JSON.stringify(caps));
}

function runScript(script: string, dir: string): Deno.ChildProcess {
  const words = script.split(/\s+/).filter(Boolean).map((w) => {
    const p = resolveFrom(dir, w);
    try {
      Deno.statSync(p);
      return p;
    } catch {
      return w;
    }
  });
  return new Deno.Command("bash", { args: ["-c", words.join(" ")], stdin: "null" }).spawn();
}

export interface RunTestsOptions {
  log?: (line: string) => void;
}

/** Runs every [[tests]] of the config at `path`; throws on the first failure. */
export async function runTests(path: string, opts: RunTestsOptions = {}): Promise<void> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const configPath = await Deno.realPath(await findConfig(path));
  const dir = configPath.slice(0, configPath.lastIndexOf("/"));
  const config = readConfig(await Deno.readTextFile(configPath));
  for (const [i, test] of config.tests.entries()) {
    log(`[run-tests] [[tests]] #${i + 1} of ${config.tests.length}`);
    await runOne(test, dir, config, log);
  }
}

async function runOne(
  test: TestSpec,
  dir: string,
  config: TestsConfig,
  log: (line: string) => void,
): Promise<void> {
  const setupPackages = test.setup_packages.map((s) => ({ ...s, path: resolveFrom(dir, s.path) }));
  const testPackages = test.test_package_paths.map((p) => resolveFrom(dir, p));
  const deps = test.dependency_package_paths.map((p) => resolveFrom(dir, p));
  const built = new Set<string>();
  for (const p of [...deps, ...setupPackages.map((s) => s.path), ...testPackages]) {
    if (built.has(p)) continue;
    built.add(p);
    log(`[run-tests] building ${p}`);
    await buildPackage({ dir: p, log: (l) => log(`  ${l}`) });
  }

  const chain = await ensureChain(test.fakechain_router, (l) => log(`[run-tests] ${l}`));
  // the runtime loads when nodes boot, not with every kit verb
  const { bootNode } = await import("../node.ts");
  const { HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION } = await import("../modules/http_server/mod.ts");
  const scripts = test.setup_scripts.map((s) => runScript(s, dir));
  const booted: Booted[] = [];
  let failed = true;
  try {
    for (const spec of test.nodes) {
      const home = resolveFrom(dir, spec.home);
      let name = spec.fake_node_name;
      if (!name.includes(".")) name = `${name}.os`;
      // a fresh node each run, as kit clears kernel/, kv/, sqlite/ and vfs/ first
      await Deno.remove(home, { recursive: true }).catch(() => {});
      log(`[run-tests] booting ${name} (http://localhost:${spec.port}, home ${home})`);
      const output: string[] = [];
      const node = await bootNode({
        home,
        name,
        password: spec.password ?? "secret",
        httpPort: spec.port,
        exposeLocal: true,
        httpTimeoutSeconds: HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION,
        fakeChain: { port: test.fakechain_router, freshKey: true },
        eth: { rpc: spec.rpc },
        verbosity: spec.runtime_verbosity ?? 0,
        onPrint: (_l, text) => void output.push(`[${name}] ${text}`),
        distro: true,
      });
      const url = nodeUrl(spec.port);
      booted.push({ node, spec, url, output });
      await node.installPackage(TESTER_DIR);
      // kit's wait_until_booted: the tester's drive answers through the RPC
      await waitFor(`${name}'s tester`, 20_000, async () => {
        await request(
          url,
          makeMessage(
            "vfs:distro:sys",
            15,
            sortedJson({ path: "/tester:sys/tests", action: "ReadDir" }),
          ),
        );
        return true;
      });
    }
    // every node finds the others on the chain before tests message them
    const names = booted.map((b) => b.node.our);
    for (const b of booted) {
      for (const other of names.filter((n) => n !== b.node.our)) {
        await waitFor(`${b.node.our} to find ${other} on the chain`, 30_000, async () => {
          const res = await b.node.request(
            HNS,
            encodeIndexerRequest({ NodeInfo: { name: other, block: 0 } }),
          );
          const r = parseIndexerResponse(res.body);
          return "NodeInfo" in r && r.NodeInfo ? true : undefined;
        });
      }
    }

    for (const b of booted) {
      for (const s of setupPackages) {
        if (s.run) {
          if (b.node.isRunning(APP_STORE)) await startPackage(s.path, b.url, (l) => log(`  ${l}`));
          else {
            // no app store on this node yet: bootNode's install, as a distro package is
            log(
              `  ${b.node.our}: no ${APP_STORE}: installing ${s.path} with bootNode's installPackage`,
            );
            await b.node.installPackage(s.path);
          }
        }
        await loadProcesses(b.url, s.path, "setup");
      }
    }
    const master = booted[0];
    log("[run-tests] Loading tests...");
    for (const p of testPackages) await loadProcesses(master.url, p, "tests");
    await vfsWrite(master.url, "/tester:sys/tests/capabilities.json", await testCaps(testPackages));

    const run = (tests: string[]) =>
      sortedJson({
        Run: {
          input_node_names: nodeNames(test.nodes),
          test_names: tests,
          test_timeout: test.timeout_secs,
        },
      });
    // kit: the other nodes get the test paths as given, the first node their directory names
    for (const b of booted.slice(1)) {
      const res = await sendRequest(
        b.url,
        makeMessage("tester:tester:sys", 15, run(test.test_package_paths)),
      );
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`Failed with status code: ${res.status}`);
    }
    log("[run-tests] Running tests...");
    const testNames = testPackages.map((p) => p.replace(/\/+$/, "").split("/").pop()!);
    let answer;
    try {
      answer = await request(master.url, makeMessage("tester:tester:sys", 15, run(testNames)));
    } catch (e) {
      throw new Error(`FAIL: ${e instanceof Error ? e.message : e}`);
    }
    const result = JSON.parse(answer.body)?.Run;
    if (!result || !("Ok" in result)) {
      const f = result?.Err;
      throw new Error(
        f
          ? `FAIL: ${f.test} ${f.file}:${f.line}:${f.column}`
          : `FAIL: tester answered ${answer.body}`,
      );
    }
    for (const script of test.test_scripts) {
      const status = await runScript(script, dir).status;
      if (!status.success) throw new Error(`test script failed (${status.code}): ${script}`);
    }
    failed = false;
    log("PASS");
  } finally {
    if (failed || config.always_print_node_output) {
      for (const b of booted) for (const line of b.output) log(line);
    }
    for (const b of booted) await b.node.shutdown().catch(() => {});
    for (const s of scripts) {
      try {
        s.kill("SIGTERM");
      } catch { /* already done */ }
      await s.status;
    }
    if (chain) await chain.stop();
    if (!config.persist_home) {
      for (const b of booted) {
        await Deno.remove(resolveFrom(dir, b.spec.home), { recursive: true }).catch(() => {});
      }
    }
  }
}

export async function runRunTests(args: Parsed): Promise<void> {
  await runTests(userPath(args.values.PATH as string));
}
