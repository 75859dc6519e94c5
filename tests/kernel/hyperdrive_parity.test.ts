// Process-host and kernel behaviours pinned to Hyperdrive's code
// (hyperdrive/src/kernel/{mod,process,standard_host_v1}.rs, state.rs and
// app-store's install), through real processes: the tester fixture as a
// process module.

import { assertEquals } from "../assert.ts";
import { bootTestNode, checksum, makePackage, patternBlob, withTempDir } from "./helpers.ts";

const P = "t:test.os";
const addr = (p: string) => `fake.dev@${p}:${P}`;

type BlobInfo = { size: number; mime: string | null; sum: number } | null;
type BlobReport = { result: unknown; hasBlob: boolean; blob: BlobInfo; last: BlobInfo };

Deno.test("has-blob after get-state, set-state, clear-state and spawn (send-and-await inside)", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "t",
      processes: [{ name: "a", kind: "module" }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const blob = patternBlob(100, 9);
      const sum = checksum(blob);
      const after = async (cmd: Record<string, unknown>) => {
        const res = await node.request(addr("a"), JSON.stringify({ op: "blob-after", ...cmd }), {
          blob,
          timeoutSeconds: 10,
        });
        return JSON.parse(new TextDecoder().decode(res.body)) as BlobReport;
      };
      const requestBlob = { size: 100, mime: null, sum };

      // set-state: its (blob-less) response is the last message: no blob;
      // last-blob is restored to the request's
      const set = await after({ action: "state-set", value: "kept" });
      assertEquals([set.hasBlob, set.blob, set.last], [false, null, requestBlob]);

      // get-state of a saved state: the state's response had a blob, so
      // has-blob is true, and get-blob returns the restored last blob
      const got = await after({ action: "state-get" });
      assertEquals(got.result, "kept");
      assertEquals([got.hasBlob, got.blob, got.last], [true, requestBlob, requestBlob]);

      const cleared = await after({ action: "state-clear" });
      assertEquals([cleared.hasBlob, cleared.blob, cleared.last], [false, null, requestBlob]);

      // no state: the state module's error response has no blob
      const none = await after({ action: "state-get" });
      assertEquals(none.result, null);
      assertEquals([none.hasBlob, none.blob, none.last], [false, null, requestBlob]);

      // spawn: its last awaited responses (kernel's) carry no blob
      const failed = await after({ action: "spawn", name: "x", wasmPath: `/${P}/pkg/none.js` });
      assertEquals(failed.result, { spawnError: "no-file-at-path" });
      assertEquals([failed.hasBlob, failed.blob, failed.last], [false, null, requestBlob]);
      const spawned = await after({
        action: "spawn",
        name: "kid",
        wasmPath: `/${P}/pkg/tester.js`,
      });
      assertEquals(spawned.result, { spawned: `kid:${P}` });
      assertEquals([spawned.hasBlob, spawned.blob, spawned.last], [false, null, requestBlob]);
    } finally {
      await node.shutdown();
    }
  });
});
