// node.request's timeoutSeconds: a value that is not a usable number of seconds is
// refused with a clear error, not a BigInt exception from deep inside the kernel.

import { assert, assertEquals } from "../assert.ts";
import { bootStorageNode } from "./node_helpers.ts";

Deno.test("node.request: timeoutSeconds must be finite, >= 0 and fit a timer", async () => {
  const root = await Deno.makeTempDir({ prefix: "hd-node-request-" });
  const n = await bootStorageNode(`${root}/home`);
  try {
    const body = JSON.stringify({
      package_id: { package_name: "x", publisher_node: "y.os" },
      db: "d",
      action: "RemoveDb",
    });
    for (const bad of [1e30, NaN, Infinity, -Infinity, -1, 2_147_484]) {
      let err: unknown;
      try {
        await n.node.request("our@sqlite:distro:sys", body, { timeoutSeconds: bad });
      } catch (e) {
        err = e;
      }
      assert(err instanceof RangeError, `${bad}: ${err}`);
      assertEquals(
        (err as Error).message,
        `request: timeoutSeconds must be a number of seconds from 0 to 2147483, got ${bad}`,
      );
    }
    // good values still work, fractions included
    const r = await n.node.request("our@sqlite:distro:sys", body, { timeoutSeconds: 2.5 });
    assert(new TextDecoder().decode(r.body).includes("IOError"));
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
});
