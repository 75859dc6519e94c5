// Terminal output: verbosity levels, per-process overrides, the minimal
// terminal module, and the Shutdown kernel command.

import { assert, assertEquals } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { eventually, makePackage, withTempDir } from "./helpers.ts";

Deno.test("prints follow verbosity and per-process overrides; terminal prints bodies", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "v",
      processes: [{ name: "loud", kind: "module" }, { name: "quiet", kind: "module" }],
    });
    const seen: [number, string][] = [];
    const node = await bootNode({
      home: `${root}/home`,
      verbosity: 1,
      processVerbosity: { "quiet:v:test.os": "muted", "loud:v:test.os": 3 },
      onPrint: (level, text) => seen.push([level, text]),
      tcpPort: 0,
      wsPort: false,
    });
    try {
      await node.installPackage(dir);
      const say = (p: string, level: number, text: string) =>
        node.request(`our@${p}:v:test.os`, JSON.stringify({ op: "print", level, text }), {
          timeoutSeconds: 30,
        });
      await say("loud", 3, "loud-at-3"); // override 3 lets level 3 through
      await say("quiet", 0, "quiet-at-0"); // muted: not even level 0
      await node.send("our@terminal:terminal:sys", "terminal says hi");
      await eventually(() => seen.some(([, t]) => t === "terminal says hi"));
      assert(seen.some(([l, t]) => l === 3 && t === "v:test.os: loud-at-3"));
      assert(!seen.some(([, t]) => t.includes("quiet-at-0")), "muted process printed");
      // the global level (1) still filters the kernel's own level-2 prints
      assert(!seen.some(([l, t]) => l > 1 && !t.includes("loud-at-3")));
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("the Shutdown kernel command stops the node", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "sd",
      processes: [{ name: "p", kind: "module" }],
    });
    const node = await bootNode({
      home: `${root}/home`,
      onPrint: () => {},
      tcpPort: 0,
      wsPort: false,
    });
    await node.installPackage(dir);
    assert(node.isRunning("p:sd:test.os"));
    await node.send("our@kernel:distro:sys", JSON.stringify("Shutdown"));
    await eventually(() => !node.isRunning("p:sd:test.os"));
    await node.shutdown(); // idempotent
    // and the home reboots with the process
    const again = await bootNode({
      home: `${root}/home`,
      onPrint: () => {},
      tcpPort: 0,
      wsPort: false,
    });
    try {
      const res = await again.request("our@p:sd:test.os", JSON.stringify({ op: "our" }), {
        timeoutSeconds: 30,
      });
      assertEquals(JSON.parse(new TextDecoder().decode(res.body)), {
        our: "fake.dev@p:sd:test.os",
      });
    } finally {
      await again.shutdown();
    }
  });
});
