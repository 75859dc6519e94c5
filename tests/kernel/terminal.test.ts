// What the kernel does for the terminal: verbosity levels and per-process
// overrides, the Shutdown command, the console's debug switches (the event loop
// printed in Hyperdrive's format, for all or some processes; step-through),
// the per-process figures behind `top` (Debug "ProcessStats"), the console's
// port (a line entered as terminal:terminal:sys), and scripts.json at install.

import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { Kernel } from "../../kernel/kernel.ts";
import { installPackage } from "../../kernel/packages.ts";
import type { ConsolePort } from "../../kernel/console_port.ts";
import { createStateModule } from "../../modules/state/mod.ts";
import { parseAddress, type ProcessId, processIdToString } from "../../wire/core.ts";
import { eventually, makePackage, sleep, withTempDir, writeKitPackage } from "./helpers.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

Deno.test("prints follow verbosity and per-process overrides", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "v",
      processes: [{ name: "loud", kind: "module" }, { name: "quiet", kind: "module" }],
    });
    const seen: [number, string][] = [];
    const node = await bootNode({
      home: `${root}/home`,
      verbosity: 1,
      processVerbosity: { "quiet:v:test.os": "muted", "loud:v:test.os": 3 },
      onPrint: (level, text) => seen.push([level, text]),
      tcpPort: 0,
      wsPort: false,
    });
    try {
      await node.installPackage(dir);
      const say = (p: string, level: number, text: string) =>
        node.request(`our@${p}:v:test.os`, JSON.stringify({ op: "print", level, text }), {
          timeoutSeconds: 30,
        });
      await say("loud", 3, "loud-at-3"); // override 3 lets level 3 through
      await say("quiet", 0, "quiet-at-0"); // muted: not even level 0
      assert(seen.some(([l, t]) => l === 3 && t === "v:test.os: loud-at-3"));
      assert(!seen.some(([, t]) => t.includes("quiet-at-0")), "muted process printed");
      // the global level (1) still filters the kernel's own level-2 prints
      assert(!seen.some(([l, t]) => l > 1 && !t.includes("loud-at-3")));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("the Shutdown kernel command stops the node", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "sd",
      processes: [{ name: "p", kind: "module" }],
    });
    const node = await bootNode({
      home: `${root}/home`,
      onPrint: () => {},
      tcpPort: 0,
      wsPort: false,
    });
    await node.installPackage(dir);
    assert(node.isRunning("p:sd:test.os"));
    await node.send("our@kernel:distro:sys", JSON.stringify("Shutdown"));
    await eventually(() => !node.isRunning("p:sd:test.os"));
    await node.shutdown(); // idempotent
    // and the home reboots with the process
    const again = await bootNode({
      home: `${root}/home`,
      onPrint: () => {},
      tcpPort: 0,
      wsPort: false,
    });
    try {
      const res = await again.request("our@p:sd:test.os", JSON.stringify({ op: "our" }), {
        timeoutSeconds: 30,
      });
      assertEquals(JSON.parse(new TextDecoder().decode(res.body)), {
        our: "fake.dev@p:sd:test.os",
      });
    } finally {
      await again.shutdown();
    }
  });
});

interface Print {
  level: number;
  text: string;
  source: string;
}

/** A kernel on its own (state its only runtime module), with a package of tester modules. */
async function kernelWith(root: string, names: string[]) {
  const prints: Print[] = [];
  const our = "fake.dev";
  const home = `${root}/home`;
  await Deno.mkdir(home, { recursive: true });
  const print = (level: number, text: string, source: ProcessId) =>
    void prints.push({ level, text, source: processIdToString(source) });
  const kernel = new Kernel({
    our,
    home,
    networkingKey: crypto.getRandomValues(new Uint8Array(32)),
    modules: [createStateModule()],
    print,
  });
  await kernel.boot();
  const dir = await makePackage(root, {
    name: "k",
    processes: names.map((name) => ({ name, kind: "module" as const })),
  });
  await installPackage(kernel, { our, home, print }, dir);
  const ask = async (process: string, cmd: unknown) => {
    const km = await kernel.request(
      parseAddress(`${our}@${process}`),
      { inherit: false, body: enc.encode(JSON.stringify(cmd)), capabilities: [] },
      undefined,
      30,
    );
    if (km.message.tag !== "response") throw new Error("not a response");
    return JSON.parse(dec.decode(km.message.val[0].body));
  };
  return { kernel, prints, ask, port: kernel.consolePort() as ConsolePort };
}

Deno.test("debug: the event loop printed as Hyperdrive's KernelMessage Display", async () => {
  await withTempDir(async (root) => {
    const { kernel, prints, ask, port } = await kernelWith(root, ["a", "b"]);
    try {
      await ask("a:k:test.os", { op: "echo" }); // warm, and opens nothing yet
      prints.length = 0;
      port.setEventLoop(true);
      await ask("a:k:test.os", { op: "echo", body: "x" });
      const events = prints.filter((p) => p.level === 3);
      const req = events.find((p) => p.text.includes("message: Request("));
      assert(req, "the request printed");
      assertEquals(req.source, "kernel:distro:sys");
      assertMatch(
        req.text,
        /^\{\n {4}id: \d+,\n {4}source: fake\.dev@kernel:distro:sys,\n {4}target: fake\.dev@a:k:test\.os,\n {4}rsvp: fake\.dev@kernel:distro:sys,\n {4}message: Request\(\n {8}inherit: false,\n {8}expects_response: Some\(30\),\n {8}body: \{"op":"echo","body":"x"\},\n {8}metadata: None,\n {8}capabilities: \[\],\n {4}\),\n {4}blob: false,\n\}$/,
      );
      assert(events.some((p) => p.text.includes("message: Response(")), "the response printed");
      // off: nothing more
      port.setEventLoop(false);
      prints.length = 0;
      await ask("a:k:test.os", { op: "echo" });
      assertEquals(prints.filter((p) => p.level === 3).length, 0);
      // one process: its events only, as from it
      port.setEventLoopFor("b:k:test.os", true);
      await ask("a:k:test.os", { op: "echo" });
      await ask("b:k:test.os", { op: "echo" });
      const mine = prints.filter((p) => p.level === 3);
      assert(mine.length >= 2, "b's request and response");
      assert(mine.every((p) => p.source === "b:k:test.os" && p.text.includes("b:k:test.os")));
      // a process-to-process message passes the kernel (no direct channel) while printing
      await ask("a:k:test.os", { op: "ask", target: "fake.dev@b:k:test.os", body: { op: "our" } });
      await ask("a:k:test.os", { op: "ask", target: "fake.dev@b:k:test.os", body: { op: "our" } });
      const between = prints.filter((p) =>
        p.level === 3 && p.text.includes("source: fake.dev@a:k:test.os")
      );
      assertEquals(between.length, 2);
    } finally {
      await kernel.shutdown();
    }
  });
});

Deno.test("debug: step-through holds every message until stepped", async () => {
  await withTempDir(async (root) => {
    const { kernel, ask, port } = await kernelWith(root, ["a"]);
    try {
      await ask("a:k:test.os", { op: "our" });
      port.setStepping(true);
      let answered = false;
      const pending = ask("a:k:test.os", { op: "our" }).then((r) => (answered = true, r));
      await sleep(300);
      assert(!answered, "answered while held");
      port.step(); // the request goes in
      await sleep(300);
      assert(!answered, "the response went out unstepped");
      port.step(); // its response
      assertEquals(await pending, { our: "fake.dev@a:k:test.os" });
      // off lets everything held through
      const second = ask("a:k:test.os", { op: "our" });
      await sleep(100);
      port.setStepping(false);
      assertEquals(await second, { our: "fake.dev@a:k:test.os" });
    } finally {
      await kernel.shutdown();
    }
  });
});

Deno.test("ProcessStats: per-process waiting, in, out, handling time and heap", async () => {
  await withTempDir(async (root) => {
    const { kernel, ask } = await kernelWith(root, ["a", "b"]);
    try {
      for (let i = 0; i < 20; i++) await ask("a:k:test.os", { op: "echo" });
      await ask("a:k:test.os", { op: "ask-many", target: "fake.dev@b:k:test.os", n: 50 });
      await sleep(200);
      const stats = (await ask("kernel:distro:sys", { Debug: "ProcessStats" })).Debug.ProcessStats;
      const a = stats["a:k:test.os"], b = stats["b:k:test.os"];
      assertEquals(a.kind, "process");
      assert(a.running);
      assert(a.received >= 71 && a.sent >= 71, JSON.stringify(a));
      // b answered 50 pings from a, over the direct channel after the first
      assert(b.received >= 50 && b.sent >= 50, JSON.stringify(b));
      assert(b.last_minute.handled >= 49, JSON.stringify(b));
      assert(b.last_minute.p50_ms > 0 && b.last_minute.p99_ms >= b.last_minute.p50_ms);
      assert(a.heap_used > 100_000 && a.external >= 0, JSON.stringify(a));
      assertEquals(a.queued, 0);
      assert(!("kernel:distro:sys" in stats));
    } finally {
      await kernel.shutdown();
    }
  });
});

Deno.test("console port: a line goes to terminal:terminal:sys from itself", async () => {
  await withTempDir(async (root) => {
    // a stand-in terminal: a tester module named terminal in package terminal:sys
    const prints: Print[] = [];
    const our = "fake.dev";
    const home = `${root}/home`;
    await Deno.mkdir(home, { recursive: true });
    const print = (level: number, text: string, source: ProcessId) =>
      void prints.push({ level, text, source: processIdToString(source) });
    const kernel = new Kernel({
      our,
      home,
      networkingKey: crypto.getRandomValues(new Uint8Array(32)),
      modules: [createStateModule()],
      print,
    });
    await kernel.boot();
    const dir = await makePackage(root, {
      name: "terminal",
      publisher: "sys",
      processes: [{ name: "terminal", kind: "module", public: false }],
    });
    await installPackage(kernel, { our, home, print }, dir);
    try {
      const port = kernel.consolePort();
      let shutdown = false;
      port.onShutdown(() => shutdown = true);
      port.setEventLoop(true);
      port.enterLine(JSON.stringify({ op: "print", text: "from the console" }));
      await eventually(() => prints.some((p) => p.text === "terminal:sys: from the console"));
      const line = prints.find((p) => p.level === 3 && p.text.includes("from the console"));
      assertMatch(
        line!.text,
        /source: fake\.dev@terminal:terminal:sys,\n {4}target: fake\.dev@terminal:terminal:sys,/,
      );
      assert(port.kill("terminal:terminal:sys"));
      assert(!port.kill("terminal:terminal:sys"));
      assert(!port.kill("not a pid"));
      await kernel.shutdown();
      assert(shutdown, "told of the shutdown");
    } finally {
      await kernel.shutdown();
    }
  });
});

Deno.test("installPackage: pkg/scripts.json is checked; a bad one refuses the package", async () => {
  await withTempDir(async (root) => {
    const node = await bootNode({
      home: `${root}/home`,
      onPrint: () => {},
      tcpPort: 0,
      wsPort: false,
      httpPort: false,
    });
    try {
      const pkg = async (name: string, scripts: string, files: Record<string, string> = {}) => {
        const dir = await writeKitPackage(root, {
          name,
          manifest: [],
          files: { "s.ts": "export function init() {}", ...files, "scripts.json": scripts },
        });
        return dir;
      };
      const entry = '{"root": false, "public": false, "request_networking": false}';
      assertEquals(
        await node.installPackage(await pkg("good", `{"s.ts": ${entry}}`)),
        "good:test.os",
      );
      await assertRejects(
        async () => await node.installPackage(await pkg("nojson", "{oops")),
        "pkg/scripts.json: not JSON",
      );
      await assertRejects(
        async () => await node.installPackage(await pkg("nofile", `{"gone.ts": ${entry}}`)),
        'pkg/scripts.json: "gone.ts": no such file in pkg/',
      );
      await assertRejects(
        async () =>
          await node.installPackage(
            await pkg("noroot", '{"s.ts": {"public": false, "request_networking": false}}'),
          ),
        'pkg/scripts.json: "s.ts": root must be true or false',
      );
      // the node still installs and serves
      assertEquals(
        await node.installPackage(await pkg("good2", `{"s.ts": ${entry}}`)),
        "good2:test.os",
      );
    } finally {
      await node.shutdown();
    }
  });
});
