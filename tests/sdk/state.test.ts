// Persisted state under each save option, across a node restart: one app per
// option (process modules built from one template), bumped, then the node is
// shut down and booted again on the same home.

import { assertEquals } from "../assert.ts";
import { writePackage } from "../../sdk/build.ts";
import type { SaveOption } from "../../sdk/mod.ts";
import { sleep, withTempDir } from "../kernel/helpers.ts";
import { bootSdkNode } from "./helpers.ts";

const SDK = new URL("../../sdk/mod.ts", import.meta.url).pathname;

function source(save: SaveOption): string {
  return `import { hyperapp, t } from "${SDK}";
export const app = hyperapp({
  name: "Saver",
  save: ${JSON.stringify(save)},
  state: () => ({ n: 0, seen: 0 }),
  homepage: false,
})
  .init((cx) => cx.print("ready, n = " + cx.state.n))
  .method("bump", { local: true, returns: t.u32 }, (cx) => ++cx.state.n)
  .method("peek", { local: true, returns: t.u32 }, (cx) => cx.state.n);
export const init = app.main;
`;
}

Deno.test("sdk state: survives a restart as each save option says", async () => {
  await withTempDir(async (dir) => {
    const cases: { name: string; save: SaveOption; bumps: number; after: number }[] = [
      { name: "every", save: "EveryMessage", bumps: 3, after: 3 },
      { name: "ondiff", save: "OnDiff", bumps: 3, after: 3 },
      // the 4th bump is the first of the next 3: not saved yet
      { name: "everyn", save: { EveryNMessage: 3 }, bumps: 4, after: 3 },
      { name: "seconds", save: { EveryNSeconds: 1 }, bumps: 2, after: 2 },
      { name: "never", save: "Never", bumps: 2, after: 0 },
    ];
    const home = `${dir}/home`;
    let node = await bootSdkNode(home, "saver.os");
    try {
      for (const c of cases) {
        await Deno.mkdir(`${dir}/src`, { recursive: true });
        await Deno.writeTextFile(`${dir}/src/${c.name}.ts`, source(c.save));
        const built = await writePackage({
          entry: `${dir}/src/${c.name}.ts`,
          out: `${dir}/pkg/${c.name}`,
          packageName: c.name,
          publisher: "test.os",
        });
        await node.installPackage(built.dir);
      }
      for (const c of cases) {
        const target = `our@${c.name}:${c.name}:test.os`;
        for (let i = 1; i <= c.bumps; i++) assertEquals(await node.ask(target, "Bump"), i);
        // OnDiff: a call that changes nothing saves nothing, the state is unchanged anyway
        assertEquals(await node.ask(target, "Peek"), c.bumps);
      }
      await sleep(2_500); // EveryNSeconds(1): its timer has saved by now
      await node.shutdown();
      node = await bootSdkNode(home, "saver.os");
      for (const c of cases) {
        await node.waitForPrint(new RegExp(`^${c.name}:test\\.os: ${c.name}: ready`));
        assertEquals(
          await node.ask(`our@${c.name}:${c.name}:test.os`, "Peek"),
          c.after,
          `${JSON.stringify(c.save)} after a restart`,
        );
      }
    } finally {
      await node.shutdown();
    }
  });
});
