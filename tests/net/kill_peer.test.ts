// A peer node killed with SIGKILL mid-run: the sender's process gets Offline
// (with its context) instead of hanging, and once the peer is back on the same
// home and port, messages flow again.

import { assertEquals } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import { eventually, makePackage, withTempDir } from "../kernel/helpers.ts";

const CHILD = new URL("./peer_child.ts", import.meta.url).pathname;

function startPeer(home: string, port: number, alice: HnsUpdate, pkgDir?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CHILD,
      home,
      String(port),
      JSON.stringify(alice),
      ...(pkgDir ? [pkgDir] : []),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const identity = (async () => {
    let buf = "";
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const m = buf.match(/IDENTITY (\{.*\})\n/);
      if (m) return JSON.parse(m[1]) as HnsUpdate;
    }
    throw new Error(`peer did not come up: ${buf}`);
  })();
  return {
    identity,
    async kill() {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
    },
  };
}

Deno.test("a peer killed with SIGKILL: Offline, then reachable again", async () => {
  await withTempDir(async (root) => {
    const pkg = await makePackage(root, {
      name: "t",
      processes: [{ name: "a", kind: "module", requestNetworking: true }],
    });
    const alice = await bootNode({
      home: `${root}/alice`,
      name: "alice.os",
      tcpPort: 0,
      wsPort: false,
      httpPort: false,
      onPrint: () => {},
    });
    let peer = startPeer(`${root}/peer`, 0, alice.identity, pkg);
    try {
      await alice.installPackage(pkg);
      const peerId = await peer.identity;
      await alice.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update: peerId }));
      const ask = async () => {
        const res = await alice.request(
          "our@a:t:test.os",
          JSON.stringify({
            op: "ask",
            target: "peer.os@a:t:test.os",
            body: { op: "echo", body: "hi" },
            timeout: 5,
          }),
          { timeoutSeconds: 20 },
        );
        return JSON.parse(new TextDecoder().decode(res.body)) as {
          ok?: { source: string };
          err?: string;
          target?: string;
        };
      };
      assertEquals((await eventually(async () => (await ask()).ok)).source, "peer.os@a:t:test.os");

      await peer.kill();
      assertEquals(await ask(), { err: "offline", target: "peer.os@a:t:test.os" });

      // back on the same home and port: same identity, reachable again
      peer = startPeer(`${root}/peer`, peerId.ports.tcp, alice.identity);
      assertEquals((await peer.identity).public_key, peerId.public_key);
      const back = await eventually(async () => (await ask()).ok, 20_000);
      assertEquals(back.source, "peer.os@a:t:test.os");
    } finally {
      await peer.kill().catch(() => {});
      await alice.shutdown();
    }
  });
});
