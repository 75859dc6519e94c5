// Components of one package share a Worker (kernel/process_host/shared_workers.ts): they
// answer, wait on each other and on the kernel inside one thread, and a stuck one is
// stopped alone: its neighbours go on with their state.

import { assert, assertEquals } from "../assert.ts";
import { bootTestNode, eventually, makePackage, sleep, withTempDir } from "./helpers.ts";
import { bootNode } from "../../main.ts";

/** Threads of this process now (each Worker is one). */
function threads(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/task")) n++;
  return n;
}

const ids = (names: string[]) => names.map((n) => `${n}:grp:test.os`);

Deno.test("shared Workers: a package's components run in one Worker, wait on each other, and one is stopped alone", async () => {
  await withTempDir(async (root) => {
    const names = ["a", "b", "c", "d"];
    const dir = await makePackage(root, {
      name: "grp",
      processes: names.map((name) => ({ name, onExit: "None" })),
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      const before = threads();
      await node.installPackage(dir);
      const [a, b, c, d] = ids(names).map((p) => `our@${p}`);
      for (const p of [a, b, c, d]) {
        assertEquals(await node.ask(p, { op: "our" }), { our: `fake.dev@${p.slice(4)}` });
      }
      // four components, one more thread (alone, each had its own)
      await eventually(() => threads() - before <= 2, 5000);
      // a waits on b, in the same Worker: a suspends, b runs
      const asked = await node.ask<{ ok: { body: unknown } }>(a, {
        op: "ask",
        target: b.replace("our@", "fake.dev@"),
        body: { op: "echo", body: "via b" },
      });
      assertEquals(JSON.stringify(asked.ok).includes("via b"), true);
      // the kernel's calls: state
      assertEquals(await node.ask(c, { op: "state-set", value: "kept" }), { set: true });
      assertEquals(await node.ask(c, { op: "state-get" }), { state: "kept" });
      // d spins forever, holding the Worker (processes of one package take turns, they are
      // not preempted); KillProcess stops it alone and its neighbours answer again
      await node.send(d, JSON.stringify({ op: "loop" }));
      await sleep(200);
      assertEquals(
        await node.ask("our@kernel:distro:sys", { KillProcess: "d:grp:test.os" }, 5),
        { KilledProcess: "d:grp:test.os" },
      );
      assertEquals(await node.ask(a, { op: "our" }, 5), { our: `fake.dev@${a.slice(4)}` });
      assertEquals(await node.ask(c, { op: "state-get" }, 5), { state: "kept" });
      assert(!node.isRunning("d:grp:test.os"));
      for (const p of ["a", "b", "c"]) assert(node.isRunning(`${p}:grp:test.os`));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("shared Workers: off, every component has a Worker of its own and answers the same", async () => {
  await withTempDir(async (root) => {
    const names = ["a", "b"];
    const dir = await makePackage(root, {
      name: "grp",
      processes: names.map((name) => ({ name, onExit: "None" })),
    });
    const node = await bootNode({ home: `${root}/home`, shareWorkers: false, onPrint: () => {} });
    try {
      const before = threads();
      await node.installPackage(dir);
      const [a, b] = ids(names).map((p) => `our@${p}`);
      const res = await node.request(
        a,
        JSON.stringify({
          op: "ask",
          target: b.replace("our@", "fake.dev@"),
          body: { op: "echo", body: "via b" },
        }),
      );
      assert(new TextDecoder().decode(res.body).includes("via b"));
      assert(threads() - before >= 2, "a Worker each");
    } finally {
      await node.shutdown();
    }
  });
});
