// deno task run-tests on the templates' own tests (kit's tests.toml, a TypeScript test package,
// hyperdeno's tester:sys): chat's two-node test and fibonacci's pass; a test that fails is FAIL with
// the failing test's name.

import { assert, assertRejects } from "../assert.ts";
import { newPackage } from "../../kit/new.ts";
import { runTests } from "../../kit/run_tests.ts";
import { collector, freePort, withTempDir } from "./helpers.ts";

/** The template's tests.toml with free ports (8080, 8081 and 8545 may be taken). */
async function freePorts(toml: string) {
  const text = await Deno.readTextFile(toml);
  await Deno.writeTextFile(
    toml,
    text
      .replace(/^port = 8080$/m, `port = ${freePort()}`)
      .replace(/^port = 8081$/m, `port = ${freePort()}`)
      .replace(/^fakechain_router = 8545$/m, `fakechain_router = ${freePort()}`),
  );
}

Deno.test({
  name: "run-tests: the chat template's test passes on two fake nodes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      await newPackage({ dir: `${dir}/my-chat-app` });
      await freePorts(`${dir}/my-chat-app/test/tests.toml`);
      const c = collector();
      // kit's third case: a package directory holding test/tests.toml
      await runTests(`${dir}/my-chat-app`, { log: c.log });
      assert(c.lines.includes("PASS"), c.lines.join("\n"));
      assert(c.lines.some((l) => l.includes("booting second.os")), c.lines.join("\n"));
      // homes are removed (persist_home = false)
      await Deno.stat(`${dir}/my-chat-app/test/home/first`).then(
        () => Promise.reject(new Error("home kept")),
        () => {},
      );
    });
  },
});

Deno.test({
  name: "run-tests: a failing test is FAIL with its name",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const app = `${dir}/my-echo`;
      await newPackage({ dir: app, template: "echo" });
      await freePorts(`${app}/test/tests.toml`);
      const test = `${app}/test/my-echo-test/my-echo-test/src/lib.ts`;
      await Deno.writeTextFile(
        test,
        (await Deno.readTextFile(test)).replace('!== "Ack"', '!== "Nack"'),
      );
      const c = collector();
      await assertRejects(
        () => runTests(`${app}/test/tests.toml`, { log: c.log }),
        "FAIL: my-echo_test",
      );
      // the nodes' output is shown on failure
      assert(c.lines.some((l) => l.startsWith("[first.os]")), c.lines.join("\n"));
    });
  },
});

Deno.test({
  name: "run-tests: the fibonacci template's test passes (Number and Numbers, kit's API)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const app = `${dir}/fib`;
      await newPackage({ dir: app, template: "fibonacci" });
      await freePorts(`${app}/test/tests.toml`);
      const c = collector();
      await runTests(`${app}/test`, { log: c.log });
      assert(c.lines.includes("PASS"), c.lines.join("\n"));
    });
  },
});
