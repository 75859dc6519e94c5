// state:distro:sys directly: StateAction bodies as Hyperdrive's, malformed
// requests answered with StateError, and userspace kept out (no capability).

import { DatabaseSync } from "node:sqlite";
import { assertEquals } from "../assert.ts";
import { bootTestNode, makePackage, withTempDir } from "./helpers.ts";

const STATE = "our@state:distro:sys";

Deno.test("state module: actions, malformed requests, and no userspace access", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, { name: "st", processes: [{ name: "p", kind: "module" }] });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const state = async (body: string, blob?: Uint8Array) => {
        const res = await node.request(STATE, body, { blob });
        return {
          body: JSON.parse(new TextDecoder().decode(res.body)),
          blob: res.blob?.bytes,
        };
      };
      // Hyperdrive's StateAction / StateResponse JSON
      assertEquals(
        (await state(JSON.stringify({ SetState: "x:st:test.os" }), new Uint8Array([1, 2, 3])))
          .body,
        "SetState",
      );
      const got = await state(JSON.stringify({ GetState: "x:st:test.os" }));
      assertEquals(got.body, "GetState");
      assertEquals(Array.from(got.blob!), [1, 2, 3]);
      assertEquals(
        (await state(JSON.stringify({ DeleteState: "x:st:test.os" }))).body,
        "DeleteState",
      );
      assertEquals((await state(JSON.stringify({ GetState: "x:st:test.os" }))).body, {
        Err: { NotFound: { process_id: "x:st:test.os" } },
      });
      // malformed: not JSON, unknown action, bad process id (all serde failures in
      // Hyperdrive: BadJson), SetState without bytes
      assertEquals(Object.keys((await state("{nope")).body.Err), ["BadJson"]);
      assertEquals(Object.keys((await state(JSON.stringify({ Frobnicate: 1 }))).body.Err), [
        "BadJson",
      ]);
      assertEquals(Object.keys((await state(JSON.stringify({ GetState: "no-colons" }))).body.Err), [
        "BadJson",
      ]);
      assertEquals((await state(JSON.stringify({ SetState: "x:st:test.os" }))).body, {
        Err: { BadBytes: { action: "SetState" } },
      });
      // a process holds no capability to message state: refused by the kernel
      const r = await node.ask<{ err?: string }>("our@p:st:test.os", {
        op: "ask",
        target: "fake.dev@state:distro:sys",
        body: { GetState: "p:st:test.os" },
        timeout: 3,
      });
      assertEquals(r.err, "timeout");
      await node.waitForPrint(/doesn't have capability to message process state:distro:sys/);
      // and the module still serves; Backup writes a real copy of every process's state
      assertEquals(
        (await state(JSON.stringify({ SetState: "y:st:test.os" }), new Uint8Array([7, 8])))
          .body,
        "SetState",
      );
      assertEquals((await state(JSON.stringify("Backup"))).body, "Backup");
      const copy = new DatabaseSync(`${root}/home/kernel/backup/state.sqlite`, { readOnly: true });
      try {
        const row = copy.prepare("SELECT bytes FROM state WHERE process_id = ?").get(
          "y:st:test.os",
        ) as { bytes: Uint8Array };
        assertEquals(Array.from(row.bytes), [7, 8]);
      } finally {
        copy.close();
      }
      // a second Backup replaces the first
      assertEquals((await state(JSON.stringify("Backup"))).body, "Backup");
    } finally {
      await node.shutdown();
    }
  });
});
