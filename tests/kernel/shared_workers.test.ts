// Components of one package share a Worker (kernel/process_host/shared_workers.ts): they
// answer, wait on each other and on the kernel inside one thread, and a stuck one is
// stopped alone: its neighbours go on with their state.

import { assert, assertEquals } from "../assert.ts";
import { bootTestNode, makePackage, sleep, type TestNode, withTempDir } from "./helpers.ts";
import { bootNode, type HyperdenoNode } from "../../main.ts";
import { buildFixture } from "../fixtures/build.ts";
import { makeWasiImports, StopSignal, WorkerStopped } from "../../kernel/process_host/wasi.ts";
import { createHash } from "node:crypto";
import { copyDir } from "../../kernel/packages/disk.ts";
import { SHARED_CACHE_FORMAT, UNSHAREABLE_FILE } from "../../kernel/process_host/program.ts";

/**
 * Whether `a` answers while `b` spins in a loop: a Worker of its own each, it does; sharing
 * one, it cannot (processes of one package take turns). b is then killed.
 */
async function answersBesideSpinner(node: HyperdenoNode, a: string, b: string): Promise<boolean> {
  await node.send(b, JSON.stringify({ op: "loop" }));
  await sleep(200);
  let answered = true;
  try {
    await node.request(a, JSON.stringify({ op: "our" }), { timeoutSeconds: 1 });
  } catch (e) {
    if ((e as { kind?: string }).kind !== "timeout") throw e;
    answered = false;
  }
  const pid = b.replace("our@", "");
  const res = await node.request(
    "our@kernel:distro:sys",
    JSON.stringify({ KillProcess: pid }),
    { timeoutSeconds: 5 },
  );
  assertEquals(JSON.parse(new TextDecoder().decode(res.body)), { KilledProcess: pid });
  return answered;
}

/** Package grp of tester components named `names`; their addresses as node.request takes them. */
async function group(root: string, names: string[]): Promise<{ dir: string; at: string[] }> {
  const dir = await makePackage(root, {
    name: "grp",
    processes: names.map((name) => ({ name, onExit: "None" })),
  });
  return { dir, at: names.map((n) => `our@${n}:grp:test.os`) };
}

/** What `from` says when it asks `to` (send-and-await-response) to echo "via b". */
async function askVia(node: HyperdenoNode, from: string, to: string): Promise<string> {
  const res = await node.request(
    from,
    JSON.stringify({
      op: "ask",
      target: to.replace("our@", "fake.dev@"),
      body: { op: "echo", body: "via b" },
    }),
    { timeoutSeconds: 30 },
  );
  return new TextDecoder().decode(res.body);
}

Deno.test("shared Workers: a package's components run in one Worker, wait on each other, and one is stopped alone", async () => {
  await withTempDir(async (root) => {
    const { dir, at: [a, b, c, d] } = await group(root, ["a", "b", "c", "d"]);
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      for (const p of [a, b, c, d]) {
        assertEquals(await node.ask(p, { op: "our" }), { our: `fake.dev@${p.slice(4)}` });
      }
      // a waits on b, in the same Worker: a suspends, b runs
      assert((await askVia(node, a, b)).includes("via b"));
      // the kernel's calls: state
      assertEquals(await node.ask(c, { op: "state-set", value: "kept" }), { set: true });
      assertEquals(await node.ask(c, { op: "state-get" }), { state: "kept" });
      // d spins forever, holding the Worker: a cannot answer meanwhile (processes of one
      // package take turns, none is preempted: so they share it); KillProcess stops d alone
      // and its neighbours answer again
      assertEquals(await answersBesideSpinner(node, a, d), false);
      assertEquals(await node.ask(a, { op: "our" }, 5), { our: `fake.dev@${a.slice(4)}` });
      assertEquals(await node.ask(c, { op: "state-get" }, 5), { state: "kept" });
      assert(!node.isRunning("d:grp:test.os"));
      for (const p of ["a", "b", "c"]) assert(node.isRunning(`${p}:grp:test.os`));
      // c crashes: its error is printed as from a Worker of its own; a and b go on
      await node.send(c, JSON.stringify({ op: "crash", reason: "shared-test" }));
      await node.waitForPrint(/ended with error:[\s\S]*crash requested: shared-test/);
      assertEquals((await node.ask<{ body: unknown }>(b, { op: "echo", body: 1 }, 5)).body, 1);
      assert(!node.isRunning("c:grp:test.os"));
      // b, waiting for a message, is killed: it unwinds from its wait and leaves the Worker
      // (one that did not would take the Worker, and a, down after 2 s)
      assertEquals(
        await node.ask("our@kernel:distro:sys", { KillProcess: "b:grp:test.os" }, 5),
        { KilledProcess: "b:grp:test.os" },
      );
      await sleep(2500);
      assert(node.isRunning("a:grp:test.os"));
      // the glue's state, shared by one component's instances in a Worker, survived the kills
      // and the crash: a keeps receiving, waiting on the kernel and answering
      for (let i = 0; i < 3; i++) {
        assertEquals(await node.ask(a, { op: "our" }, 5), { our: `fake.dev@${a.slice(4)}` });
      }
      assertEquals(await node.ask(a, { op: "state-set", value: "still" }, 5), { set: true });
      assertEquals(await node.ask(a, { op: "state-get" }, 5), { state: "still" });
      assert(node.isRunning("a:grp:test.os"));
    } finally {
      await node.shutdown();
    }
  });
});

/**
 * Each process's Worker in `top`'s figures: its heap, and how many processes share that
 * Worker (null: a Worker of its own).
 */
async function workers(
  node: TestNode,
  pids: string[],
): Promise<{ heap: number | null; shared: number | null }[]> {
  type Stats = { heap_used: number | null; worker_processes: number | null };
  const stats = (await node.ask<{ Debug: { ProcessStats: Record<string, Stats> } }>(
    "our@kernel:distro:sys",
    { Debug: "ProcessStats" },
  )).Debug.ProcessStats;
  return pids.map((pid) => ({
    heap: stats[pid].heap_used,
    shared: stats[pid].worker_processes,
  }));
}

Deno.test("shared Workers: a package's only component has a Worker of its own, one with neighbours shares, after a reboot too", async () => {
  await withTempDir(async (root) => {
    // on-exit Restart: brought back at boot (as in Hyperdrive, a transient process is not)
    const pair = await makePackage(root, {
      name: "pair",
      processes: [{ name: "a" }, { name: "b" }],
    });
    const solo = await makePackage(root, { name: "solo", processes: [{ name: "s" }] });
    const [a, b] = ["our@a:pair:test.os", "our@b:pair:test.os"];
    const pids = ["s:solo:test.os", "a:pair:test.os", "b:pair:test.os"];
    for (const boot of ["install", "reboot"]) {
      const node = await bootTestNode(`${root}/home`);
      try {
        if (boot === "install") {
          await node.installPackage(solo);
          // the pair as the app store installs: packages:distro:sys, through kernel commands
          // that initialize one process at a time
          await copyDir(`${pair}/pkg`, `${root}/home/vfs/stage:test.os/pair`);
          const res = await node.request(
            "our@packages:distro:sys",
            JSON.stringify({
              Install: { package_id: "pair:test.os", path: "/stage:test.os/pair" },
            }),
            { timeoutSeconds: 60 },
          );
          const answer = new TextDecoder().decode(res.body);
          assertEquals(JSON.parse(answer).Ok?.upgraded, false, answer);
        }
        for (const p of ["our@s:solo:test.os", a, b]) {
          assertEquals(await node.ask(p, { op: "our" }, 10), { our: `fake.dev@${p.slice(4)}` });
        }
        assert((await askVia(node, a, b)).includes("via b"));
        const [s, wa, wb] = await workers(node, pids);
        assert(s.heap !== null && s.heap > 100_000, `${boot}: s's heap ${s.heap}`);
        assertEquals(s.shared, null, `${boot}: s alone, in a Worker of its own`);
        assertEquals([wa.shared, wb.shared], [2, 2], `${boot}: a and b share a Worker`);
        assert(wa.heap !== null && wa.heap > 100_000, `${boot}: their Worker's heap ${wa.heap}`);
      } finally {
        await node.shutdown();
      }
    }
  });
});

Deno.test("shared Workers: off, every component has a Worker of its own and answers the same", async () => {
  await withTempDir(async (root) => {
    const { dir, at: [a, b] } = await group(root, ["a", "b"]);
    const node = await bootNode({ home: `${root}/home`, shareWorkers: false, onPrint: () => {} });
    try {
      await node.installPackage(dir);
      assert((await askVia(node, a, b)).includes("via b"));
      assert(await answersBesideSpinner(node, a, b), "a Worker each");
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("shared Workers: a component that cannot be built to share runs in a Worker of its own", async () => {
  await withTempDir(async (root) => {
    const { dir, at: [a, b] } = await group(root, ["a", "b"]);
    // as program.ts records a refusal (jco's, or interrupt.ts's InterruptUnsupported)
    const hash = createHash("sha256").update(await buildFixture("tester")).digest("hex");
    const cache = `${root}/home/cache/components/${SHARED_CACHE_FORMAT}/${hash}`;
    await Deno.mkdir(cache, { recursive: true });
    await Deno.writeTextFile(`${cache}/${UNSHAREABLE_FILE}`, "GC types are not supported");
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      await node.waitForPrint(/runs in a Worker of its own: GC types are not supported/);
      assert((await askVia(node, a, b)).includes("via b"));
      assert(await answersBesideSpinner(node, a, b), "a Worker each");
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("shared Workers: WASI sleeps are promises the component suspends on; a stop cuts them short", async () => {
  const words = new Int32Array(new SharedArrayBuffer(8));
  const stop = new StopSignal(words, false);
  const wasi = makeWasiImports({ print: () => {}, stop, suspends: true });
  const clock = wasi["wasi:clocks/monotonic-clock"] as Record<string, (d: bigint) => unknown>;
  const poll = (wasi["wasi:io/poll"] as { poll: (l: unknown[]) => unknown }).poll;
  let t0 = performance.now();
  const slept = poll([clock.subscribeDuration(30_000_000n)]);
  assert(slept instanceof Promise, "poll returns a promise");
  // (a waitAsync keeps no event loop alive: a shared Worker's is kept by its message handler)
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 5);
  assertEquals([...(await slept as Uint32Array)], [0]);
  assert(performance.now() - t0 >= 29, "slept its 30 ms");
  assert(ticks >= 2, "the thread ran other work meanwhile");
  // a 10 s sleep, stopped after 20 ms
  t0 = performance.now();
  const long = (clock.subscribeDuration(10_000_000_000n) as { block(): Promise<void> }).block();
  setTimeout(() => {
    Atomics.store(words, 1, 1);
    Atomics.notify(words, 1);
  }, 20);
  let stopped = false;
  try {
    await long;
  } catch (e) {
    stopped = e instanceof WorkerStopped;
  }
  clearInterval(ticker);
  assert(stopped, "the sleep ends with WorkerStopped");
  assert(performance.now() - t0 < 2000, "cut short");
});
