// Installing a package: a malformed manifest is refused with an error naming the
// file, the entry and the field, and the node keeps running.

import { assertEquals, assertRejects } from "../assert.ts";
import { bootTestNode, withTempDir, writeKitPackage } from "./helpers.ts";

Deno.test("installPackage: a malformed manifest gives a clear error; the node keeps running", async () => {
  await withTempDir(async (root) => {
    const good = {
      process_name: "p",
      process_wasm_path: "/tester.js",
      on_exit: "None",
      request_networking: false,
      request_capabilities: [],
      grant_capabilities: [],
      public: true,
    };
    const dir = await writeKitPackage(root, {
      name: "m",
      manifest: [good],
      files: { "tester.js": new URL("../fixtures/tester.js", import.meta.url) },
    });
    const manifestFile = `${dir}/pkg/manifest.json`;
    const node = await bootTestNode(`${root}/home`);
    const install = (manifest: unknown) =>
      Deno.writeTextFile(manifestFile, JSON.stringify(manifest)).then(() =>
        node.installPackage(dir)
      );
    try {
      await assertRejects(() => install({ not: "a list" }), `${manifestFile}: expected a list`);
      await assertRejects(
        () => install([good, { ...good, process_wasm_path: undefined }]),
        `${manifestFile}: entry 1: process_wasm_path: expected string`,
      );
      await assertRejects(
        () => install([{ ...good, request_capabilities: "vfs:distro:sys" }]),
        `${manifestFile}: entry 0: request_capabilities: expected a list`,
      );
      await assertRejects(
        () => install([{ ...good, on_exit: "Sometimes" }]),
        `${manifestFile}: p: on_exit: expected OnExit "None", "Restart"`,
      );
      // the well-formed manifest still installs, and the process answers
      assertEquals(await install([good]), "m:test.os");
      assertEquals(await node.ask("our@p:m:test.os", { op: "our" }), {
        our: "fake.dev@p:m:test.os",
      });
    } finally {
      await node.shutdown();
    }
  });
});
