// deno task fake-node as kit's boot-fake-node: it starts the chain when none answers on
// --fakechain-port and stops it with the node, a second node uses the running chain, each
// answers /our with its name, and a home is deleted at exit unless --persist.

import { assert, assertEquals } from "../assert.ts";
import { answersJsonRpc } from "../../chain/anvil.ts";
import { fakeNode, waitForOur } from "./cli.ts";
import { freePort, withTempDir } from "./helpers.ts";

Deno.test({
  name:
    "fake-node: the chain if none runs, fake.os and fake2 on it, homes removed unless --persist",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const chainPort = freePort();
      const [p1, p2] = [freePort(), freePort()];
      const first = fakeNode(dir, [
        "--home",
        "node-1",
        "--port",
        String(p1),
        "--fakechain-port",
        String(chainPort),
        "--",
        "--ws-port",
        String(freePort()),
      ]);
      let second;
      try {
        assertEquals(await waitForOur(`http://localhost:${p1}`, first), "fake.os");
        assert(first.output().includes(`Starting Anvil on port ${chainPort}`), first.output());
        await Deno.stat(`${dir}/node-1`);
        second = fakeNode(dir, [
          "--home",
          "./node-2",
          "-p",
          String(p2),
          "-c",
          String(chainPort),
          "--fake-node-name",
          "fake2",
          "--persist",
          "--",
          "--ws-port",
          String(freePort()),
        ]);
        assertEquals(await waitForOur(`http://localhost:${p2}`, second), "fake2.os");
        assert(
          !second.output().includes("Starting Anvil"),
          "the second node uses the running chain",
        );
        assertEquals(await second.stop(), 0);
        await Deno.stat(`${dir}/node-2`); // --persist
        assertEquals(await first.stop(), 0);
        await Deno.stat(`${dir}/node-1`).then(
          () => Promise.reject(new Error("node-1 was not removed")),
          () => {},
        );
        assert(!(await answersJsonRpc(`http://localhost:${chainPort}`)), "the chain stopped");
      } finally {
        await second?.stop();
        await first.stop();
      }
    });
  },
});
