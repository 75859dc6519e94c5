// The process sandbox (Worker permissions), TS/JS process modules behaving
// like their componentize-js builds, and components importing something
// hyperdeno does not serve.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { bootTestNode, makePackage, withTempDir } from "./helpers.ts";
import { bootNode } from "../../main.ts";

Deno.test("a process may touch only its package's tmp drive", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "sb",
      processes: [{ name: "probe", fixture: "sandbox", kind: "module" }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const tmp = `${root}/home/vfs/sb:test.os/tmp`;
      const report = await node.ask<Record<string, string>>("our@probe:sb:test.os", { tmp });
      assertEquals(report.writeTmp, "allowed");
      assertEquals(report.readTmp, "allowed");
      assertEquals(await Deno.readTextFile(`${tmp}/probe.txt`), "hello");
      assertEquals(report.readEtc, "NotCapable");
      assertEquals(report.writeOutside, "NotCapable");
      assertEquals(report.env, "NotCapable");
      assertEquals(report.run, "NotCapable");
      assert(report.net !== "granted", `net permission: ${report.net}`);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("a TS/JS process module behaves like its component build", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "eq",
      processes: [
        // both spawn, reading the wasm through vfs
        { name: "comp", requestCapabilities: ["vfs:distro:sys"] },
        { name: "mod", kind: "module", requestCapabilities: ["vfs:distro:sys"] },
        { name: "peer" },
      ],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      await node.installPackage(dir);
      const script = (self: string) => [
        { op: "our" },
        { op: "echo", body: { nested: [1, 2, 3] } },
        { op: "ask", target: "fake.dev@peer:eq:test.os", body: { op: "echo", body: "x" } },
        {
          op: "ask",
          target: "fake.dev@peer:eq:test.os",
          body: { op: "echo" },
          blob: { size: 70_000, seed: 9 },
        },
        { op: "ask", target: "fake.dev@nobody:eq:test.os", body: {}, timeout: 3 },
        { op: "blob-info" },
        { op: "state-set", value: `state of ${self}` },
        { op: "state-get" },
        { op: "get-on-exit" },
        { op: "set-on-exit", onExit: "None" },
        { op: "set-on-exit", onExit: "Restart" },
        {
          op: "spawn",
          name: `kid-of-${self}`,
          wasmPath: "/eq:test.os/pkg/tester.wasm",
          onExit: "None",
        },
        { op: "spawn", name: "x", wasmPath: "/eq:test.os/pkg/nope.wasm" },
        { op: "nonsense" },
      ];
      const run = async (self: string) => {
        const out = [];
        for (const cmd of script(self)) {
          const r = await node.ask(`our@${self}:eq:test.os`, cmd);
          out.push(JSON.parse(JSON.stringify(r).replaceAll(self, "SELF")));
        }
        const caps = await node.ask<{ caps: { issuer: string; params: string }[] }>(
          `our@${self}:eq:test.os`,
          { op: "caps" },
        );
        out.push(
          caps.caps.map((c) => `${c.issuer.replaceAll(self, "SELF")} ${c.params}`).sort(),
        );
        return out;
      };
      const fromComponent = await run("comp");
      const fromModule = await run("mod");
      assertEquals(fromModule, fromComponent);
      // and the module really is a module: no component was transpiled for it
      assertEquals((fromComponent[0] as { our: string }).our, "fake.dev@SELF:eq:test.os");
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("a component importing an unserved interface fails with an error naming it", async () => {
  await withTempDir(async (root) => {
    const dir = await makePackage(root, {
      name: "unserved",
      // componentize-js with fetch() support imports wasi:http, which hyperdeno does not serve
      processes: [{ name: "web", buildOptions: { disableFeatures: [] } }],
    });
    const node = await bootTestNode(`${root}/home`);
    try {
      const err = await assertRejects(() => node.installPackage(dir));
      assert(/component imports wasi:http\//.test(String(err)), String(err));
      // the node keeps serving
      const res = await node.request(
        "our@kernel:distro:sys",
        JSON.stringify({ Debug: "ProcessMap" }),
      );
      assert(res.body.length > 0);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("distro: the hello package (a TS process module) installs and answers", async () => {
  await withTempDir(async (home) => {
    const node = await bootNode({ home, verbosity: 0, onPrint: () => {}, distro: true });
    try {
      const res = await node.request("our@hello:hello:sys", "hi");
      assertEquals(new TextDecoder().decode(res.body), "hello, fake.dev! you said: hi");
      assertEquals(res.source, "fake.dev@hello:hello:sys");
    } finally {
      await node.shutdown();
    }
  });
});
