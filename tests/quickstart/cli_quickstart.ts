// The Book's Quick Start typed as hyperdeno's commands, each a subprocess as `deno task` runs it:
//
//   deno task fake-node
//   deno task fake-node --home ./node-2 --port 8081 --fake-node-name fake2
//   deno task new my-chat-app
//   deno task build my-chat-app
//   deno task start-package my-chat-app; deno task start-package my-chat-app --port 8081
//   deno task inject-message my-chat-app:my-chat-app:template.os '{"Send": ...}' [--node fake2.os | -p 8081]
//   m our@my-chat-app:my-chat-app:template.os '{"Send": ...}'   (typed into a node's terminal)
//   send:my-chat-app:template.os fake2.os <message>             (the template's script)
//
// with free ports for 8080, 8081 and 8545. Needs the app store (main:app-store:sys) on the nodes.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { fakeNode, type FakeNodeProcess, kit, waitForOur } from "./cli.ts";
import { eventually, freePort, withTempDir } from "./helpers.ts";

const CHAT = "my-chat-app:my-chat-app:template.os";

export async function runCliQuickStart(): Promise<void> {
  await withTempDir(async (dir) => {
    const chain = String(freePort());
    const [p1, p2] = [String(freePort()), String(freePort())];
    const nodes: FakeNodeProcess[] = [];
    try {
      const ws = () => ["--", "--ws-port", String(freePort())];
      nodes.push(
        fakeNode(dir, ["--home", "node-1", "--port", p1, "--fakechain-port", chain, ...ws()]),
      );
      assertEquals(await waitForOur(`http://localhost:${p1}`, nodes[0]), "fake.os");
      nodes.push(
        fakeNode(dir, [
          "--home",
          "./node-2",
          "--port",
          p2,
          "--fake-node-name",
          "fake2",
          "-c",
          chain,
          ...ws(),
        ]),
      );
      assertEquals(await waitForOur(`http://localhost:${p2}`, nodes[1]), "fake2.os");

      const ok = async (args: string[]) => {
        const out = await kit(dir, args);
        const logs = nodes.map((n, i) => `--- node ${i + 1} ---\n${n.output()}`).join("\n");
        assertEquals(out.code, 0, `${args.join(" ")}:\n${out.stdout}\n${out.stderr}\n${logs}`);
        return out.stdout;
      };
      await ok(["new", "my-chat-app"]);
      assertMatch(await ok(["build", "my-chat-app"]), /package zip hash: [0-9a-f]{64}/);
      assertMatch(
        await ok(["start-package", "my-chat-app", "--port", p1]),
        /Successfully installed/,
      );
      assertMatch(
        await ok(["start-package", "my-chat-app", "--port", p2]),
        /Successfully installed/,
      );

      const send = (target: string, message: string) =>
        JSON.stringify({ Send: { target, message } });
      // the chat needs the nodes to have found each other on the chain: retry the first send
      await eventually(async () => {
        const out = await kit(dir, [
          "inject-message",
          CHAT,
          send("fake2.os", "hello from the outside world"),
          "-p",
          p1,
        ]);
        return out.code === 0 && out.stdout.includes('body: "Send"');
      }, 60_000);
      await eventually(
        () => nodes[1].output().includes("fake.os: hello from the outside world"),
        20_000,
      );
      assertMatch(
        await ok([
          "inject-message",
          CHAT,
          send("fake.os", "replying from fake2.os using first method..."),
          "--node",
          "fake2.os",
          "-p",
          p1,
        ]),
        /body: "Send"/,
      );
      assertMatch(
        await ok(["inject-message", CHAT, send("fake.os", "and second!"), "-p", p2]),
        /body: "Send"/,
      );
      await eventually(() => nodes[0].output().includes("fake2.os: and second!"), 20_000);
      // from a fake node's terminal
      await nodes[0].type(`m our@${CHAT} '${send("fake2.os", "hello world")}'`);
      await eventually(() => nodes[1].output().includes("fake.os: hello world"), 20_000);
      // the template's send script (pkg/scripts.json), typed at the terminal
      await nodes[0].type("send:my-chat-app:template.os fake2.os sent by the send script");
      await eventually(
        () => nodes[1].output().includes("fake.os: sent by the send script"),
        20_000,
      );
      // the script ends without answering, as kit's call_init! scripts do: no error line
      await new Promise((r) => setTimeout(r, 2000));
      assert(!/error: send:my-chat-app/.test(nodes[0].output()), nodes[0].output());
      const history = await ok([
        "inject-message",
        CHAT,
        JSON.stringify({ History: "fake.os" }),
        "-p",
        p2,
      ]);
      for (const m of ["outside world", "and second!", "hello world", "the send script"]) {
        assert(history.includes(m), history);
      }
    } finally {
      for (const n of nodes.reverse()) await n.stop();
    }
  });
}
