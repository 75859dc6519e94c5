// sdk/dev.ts: an app on a local node, reinstalled when its source changes, its
// state kept across the reload.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { dev } from "../../sdk/dev.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { until } from "./helpers.ts";

const SDK = new URL("../../sdk/mod.ts", import.meta.url).pathname;
const dec = new TextDecoder();

function source(extra: string): string {
  return `import { hyperapp, t } from "${SDK}";
export const app = hyperapp({ name: "Dev", state: () => ({ n: 0 }), homepage: false })
  .method("bump", { local: true, returns: t.u32 }, (cx) => ++cx.state.n)${extra};
export const init = app.main;
`;
}

Deno.test("sdk dev: a changed source is rebuilt and reinstalled, state kept", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/app`);
    const entry = `${dir}/app/dev.ts`;
    await Deno.writeTextFile(entry, source(""));
    const logs: string[] = [];
    const session = await dev({
      entry,
      packageName: "dev",
      publisher: "test.os",
      home: `${dir}/home`,
      port: 0,
      log: (t) => logs.push(t),
    });
    const ask = async (body: unknown) =>
      JSON.parse(
        dec.decode((await session.node.request("our@dev:dev:test.os", JSON.stringify(body))).body),
      );
    try {
      assertMatch(logs.join("\n"), /sdk: dev:dev:test\.os installed in \d+ ms/);
      await until(async () => assertEquals(await ask("Bump"), 1));
      assertEquals(await ask("Bump"), 2);
      await Deno.writeTextFile(
        entry,
        source(`\n  .method("twice", { local: true, returns: t.u32 }, (cx) => cx.state.n * 2)`),
      );
      // the watcher rebuilds; the new process answers the new method with the saved state
      await until(async () => assertEquals(await ask("Twice"), 4), 15_000);
      assert(logs.filter((l) => /installed in/.test(l)).length >= 2);
    } finally {
      await session.stop();
    }
  });
});
