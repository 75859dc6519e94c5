// Atomic upgrades through bootNode's installPackage (the distro's path too): a new version
// whose processes cannot load (no init, bad wasm, a missing file, a syntax error) is
// refused with the reason and the running version keeps running with its drive, state
// and capabilities; a good one replaces it; two installs of one package at once: the
// second is refused.

import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { bootTestNode, withTempDir, writeKitPackage } from "../kernel/helpers.ts";

const TESTER = new URL("../fixtures/tester.js", import.meta.url);

function entry(file: string, extra: Record<string, unknown> = {}) {
  return {
    process_name: "p",
    process_wasm_path: `/${file}`,
    on_exit: "Restart",
    request_networking: false,
    request_capabilities: ["vfs:distro:sys"],
    grant_capabilities: [],
    public: true,
    ...extra,
  };
}

Deno.test("installPackage: a failed upgrade keeps the running version, its drive and state", async () => {
  await withTempDir(async (root) => {
    const node = await bootTestNode(`${root}/home`);
    try {
      const v1 = await writeKitPackage(`${root}/v1`, {
        name: "up",
        manifest: [entry("tester.js")],
        files: { "tester.js": TESTER, "marker.txt": "v1" },
      });
      assertEquals(await node.installPackage(v1), "up:test.os");
      await node.ask("our@p:up:test.os", { op: "state-set", value: "kept" });
      const marker = `${root}/home/vfs/up:test.os/pkg/marker.txt`;

      const bad = async (
        what: string,
        files: Record<string, string | URL | Uint8Array>,
        re: RegExp,
        manifest = [entry("tester.js")],
      ) => {
        const dir = await writeKitPackage(`${root}/${what}`, { name: "up", manifest, files });
        const err = await assertRejects(() => node.installPackage(dir));
        assertMatch(String(err), re, what);
        // the old version still runs, answers, has its state and its drive
        assert(node.isRunning("p:up:test.os"), `${what}: still running`);
        assertEquals(
          await node.ask("our@p:up:test.os", { op: "state-get" }),
          { state: "kept" },
          what,
        );
        assertEquals(await Deno.readTextFile(marker), "v1", `${what}: drive kept`);
      };
      await bad(
        "noinit",
        { "tester.js": "export const x = 1;", "marker.txt": "v2" },
        /p:up:test.os cannot run: process module does not export init\(\)/,
      );
      await bad(
        "syntax",
        { "tester.js": "export function init( {", "marker.txt": "v2" },
        /p:up:test.os cannot run: .*/,
      );
      await bad(
        "badwasm",
        { "app.wasm": new Uint8Array([1, 2, 3, 4, 5]), "marker.txt": "v2" },
        /p:up:test.os cannot run: .*not a WebAssembly component/,
        [entry("app.wasm")],
      );
      await bad(
        "missing",
        { "marker.txt": "v2" },
        /p:up:test.os: \/gone.js is not in the package/,
        [entry("gone.js")],
      );
      await bad(
        "slip",
        { "tester.js": TESTER },
        /process_wasm_path "\/..\/..\/x.js" is not a file inside pkg/,
        [entry("../../x.js")],
      );

      // a good v2 replaces it: new files, same state
      const v2 = await writeKitPackage(`${root}/v2`, {
        name: "up",
        manifest: [entry("tester.js"), entry("tester.js", { process_name: "q" })],
        files: { "tester.js": TESTER, "marker.txt": "v2" },
      });
      assertEquals(await node.installPackage(v2), "up:test.os");
      assertEquals(await Deno.readTextFile(marker), "v2");
      assertEquals(await node.ask("our@p:up:test.os", { op: "state-get" }), { state: "kept" });
      assert(node.isRunning("q:up:test.os"));

      // two installs of one package at once: one is refused, saying so
      const results = await Promise.allSettled([
        node.installPackage(v1),
        node.installPackage(v1),
      ]);
      assertEquals(results.filter((r) => r.status === "fulfilled").length, 1);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      assertMatch(String(refused.reason), /being installed or removed already/);
      assert(node.isRunning("p:up:test.os"));
    } finally {
      await node.shutdown();
    }
  });
});
