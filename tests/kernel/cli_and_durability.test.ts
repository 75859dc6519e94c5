// The CLI (flags, exit codes, boot and graceful stop) and process state
// surviving kill -9, each in a real child process.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { startChain } from "../../chain/mod.ts";
import { bootTestNode, makePackage, runCliNode, withTempDir } from "./helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const KILL9_CHILD = new URL("./kill9_child.ts", import.meta.url).pathname;

async function runCli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("cli: help, version, and bad flags exit 2 with a clear error", async () => {
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /Usage: hyperdeno <home> \[options\]/);
  for (const flag of ["--version", "-V"]) {
    const version = await runCli([flag]);
    assertEquals(version.code, 0, `${flag}: exit ${version.code}`);
    assertMatch(version.stdout, /^hyperdeno \d+\.\d+\.\d+\n$/);
  }
  for (
    const [args, re] of [
      [["--bogus", "home"], /error: .*bogus/],
      [["home", "--verbosity", "loud"], /--verbosity must be an integer/],
      [["home", "--tcp-port", "70000"], /--tcp-port must be a port number/],
      [["home", "--fake-node-name", "Bad_Name"], /--fake-node-name Bad_Name: can only contain/],
      [["home", "--process-verbosity", "{oops"], /--process-verbosity:/],
      [["home", "--process-verbosity", '{"a:b:c": {"U8": 300}}'], /bad level for a:b:c/],
      [["home", "--tcp-port", "0", "--ws-port", "0"], /turn off both networking transports/],
      [[], /expected exactly one <home> argument/],
    ] as [string[], RegExp][]
  ) {
    const r = await runCli(args);
    assertEquals(r.code, 2, `${args.join(" ")}: exit ${r.code}`);
    assertMatch(r.stderr, re);
  }
});

/** The identity line the CLI prints after "booted". */
function printedIdentity(stdout: string): { ports: Record<string, number> } {
  const line = stdout.split("\n").find((l) => l.startsWith("identity: "));
  assert(line, `no identity line in ${JSON.stringify(stdout)}`);
  return JSON.parse(line.slice("identity: ".length));
}

Deno.test("cli: boots a node and stops gracefully on SIGTERM", async () => {
  await withTempDir(async (home) => {
    const node = await runCliNode([
      home,
      "--fake-node-name",
      "cli.dev",
      "--tcp-port",
      "0",
      "--process-verbosity",
      '{"hello:hello:sys": {"U8": 1}, "terminal:terminal:sys": "Muted"}',
      "--detached",
    ]);
    assertMatch(node.booted, /cli\.dev booted/);
    // the distro's hello package (a TS process module) was installed at first boot
    const map = await Deno.readTextFile(`${home}/vfs/hello:sys/pkg/hello.ts`);
    assertMatch(map, /export function init/);
    const { stdout, code } = await node.stop();
    assertEquals(code, 0);
    assertMatch(stdout, /shutting down/);
    // --tcp-port 0: no TCP transport, so the identity offers WebSockets only
    assertEquals(Object.keys(printedIdentity(stdout).ports), ["ws"]);
    assertEquals((await Deno.readTextFile(`${home}/.node-name`)).trim(), "cli.dev");
  });
});

Deno.test("cli: --ws-port 0 turns WebSockets off, as in Hyperdrive", async () => {
  await withTempDir(async (home) => {
    const node = await runCliNode([home, "--ws-port", "0", "--port", "0", "--detached"]);
    const { stdout, code } = await node.stop();
    assertEquals(code, 0);
    assertMatch(node.booted, /fake\.dev booted/);
    assertEquals(Object.keys(printedIdentity(stdout).ports), ["tcp"]);
  });
});

Deno.test("process state survives kill -9 of the node", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "k9",
      processes: [{ name: "s", kind: "module" }],
    });
    const home = `${root}/home`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", KILL9_CHILD, home, dir],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let lastAck = 0;
    let buf = "";
    const deadline = Date.now() + 30_000;
    while (lastAck < 40 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (const m of buf.matchAll(/ACK (\d+)/g)) lastAck = Math.max(lastAck, Number(m[1]));
    }
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    assert(lastAck >= 40, `child acknowledged only ${lastAck} writes`);
    const node = await bootTestNode(home);
    try {
      const r = await node.ask<{ state: string }>("our@s:k9:test.os", { op: "state-get" });
      assert(Number(r.state) >= lastAck, `state ${r.state} lost writes up to ${lastAck}`);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("cli: kit's fake-node flags boot the node; -l writes no terminal log", async () => {
  const chain = await startChain({ port: 0 });
  try {
    await withTempDir(async (home) => {
      const node = await runCliNode([
        home,
        "--detached",
        "--password",
        "secret",
        "--port",
        "0",
        "--tcp-port",
        "0",
        "--fake-node-name",
        "kit",
        "--fakechain-port",
        String(chain.port),
        "--rpc",
        `ws://127.0.0.1:${chain.port}`,
        "-l",
      ]);
      const { stderr, code } = await node.stop();
      assertEquals(code, 0);
      // kit appends .os to a name without a dot; the node minted itself on the chain
      assertMatch(node.booted, /kit\.os booted/);
      assert(!/--fakechain-port: not yet supported/.test(stderr), stderr);
      assert(!/--rpc: not yet supported/.test(stderr), stderr);
      // -l is acted on now: no log directory
      assert(!/--logging-off: not yet supported/.test(stderr), stderr);
      assert(!(await Deno.stat(`${home}/.terminal_logs`).then(() => true, () => false)));
    });
  } finally {
    await chain.stop();
  }
});
