// Fake nodes from the real CLI, with kit boot-fake-node's flags: each mints itself on the local
// chain, and with no --fake-pki they find each other through hns-indexer and exchange a request
// and its response both ways (through kit's RPC endpoint, --expose-local).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { readNode } from "../../chain/mod.ts";
import {
  type CliProcess,
  eventually,
  freePort,
  spawnCli,
  withChain,
  withTempDir,
} from "./helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function line(stdout: string, prefix: string): string {
  const l = stdout.split("\n").find((s) => s.startsWith(prefix));
  assert(l, `no "${prefix}" line in ${JSON.stringify(stdout)}`);
  return l.slice(prefix.length).trim();
}

/** kit's /rpc:distro:sys/message: the node sends `body` to `node@process`; the answer's text. */
async function rpc(base: string, node: string, process: string, body: string) {
  // each attempt bounded: http-server waits 600 s for a fake node's answer by default
  const res = await fetch(`${base}/rpc:distro:sys/message`, {
    method: "POST",
    headers: { "x-hyperware-http-server-timeout": "5" },
    signal: AbortSignal.timeout(15_000),
    body: JSON.stringify({
      node,
      process,
      inherit: false,
      expects_response: 5,
      body,
      metadata: null,
      context: null,
      mime: null,
      data: null,
    }),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  return new TextDecoder().decode(Uint8Array.from((await res.json()).body));
}

async function fakeNode(home: string, name: string, port: number, extra: string[] = []) {
  const p = spawnCli([
    home,
    "--fake-node-name",
    name,
    "--fakechain-port",
    `${port}`,
    "--password",
    "secret",
    "--port",
    "0",
    "--expose-local",
    "--detached",
    "--ws-port",
    `${freePort()}`,
    ...extra,
  ]);
  try {
    await p.waitFor(/\nhttp: \S+\n/);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

Deno.test({
  name: "cli: two fake nodes on one local chain reach each other through hns-indexer",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: CliProcess[] = [];
        try {
          // kit's flags: "alice" becomes alice.os
          nodes.push(await fakeNode(`${dir}/a`, "alice", chain.port));
          nodes.push(await fakeNode(`${dir}/b`, "bob.os", chain.port));
          const [a, b] = nodes;
          assertMatch(a.stdout(), /alice\.os booted/);
          assertMatch(b.stdout(), /bob\.os booted/);
          const idA = JSON.parse(line(a.stdout(), "identity:"));
          const idB = JSON.parse(line(b.stdout(), "identity:"));
          // WS only, as Hyperdrive's fake nodes; the chain holds the current key and port
          assertEquals(Object.keys(idA.ports), ["ws"]);
          for (const id of [idA, idB]) {
            const rec = await readNode(chain.url, id.name);
            assertEquals(rec?.netKey, id.public_key);
            assertEquals([rec?.ip, rec?.wsPort], ["127.0.0.1", id.ports.ws]);
          }
          const urlA = line(a.stdout(), "http:");
          const urlB = line(b.stdout(), "http:");
          const ab = await eventually(
            () => rpc(urlA, "bob.os", "hello:hello:sys", "hi bob"),
            60_000,
          );
          assertEquals(ab, "hello, alice.os! you said: hi bob");
          const ba = await eventually(
            () => rpc(urlB, "alice.os", "hello:hello:sys", "hi alice"),
            60_000,
          );
          assertEquals(ba, "hello, bob.os! you said: hi alice");
          // hns-indexer answers kit's RPC too
          const info = JSON.parse(
            (await rpc(
              urlA,
              "alice.os",
              "hns-indexer:hns-indexer:sys",
              '{"NodeInfo":{"name":"bob.os","block":0}}',
            ))!,
          );
          assertEquals(info.NodeInfo.public_key, idB.public_key.slice(2));
          assertEquals(info.NodeInfo.ports, [["ws", idB.ports.ws]]);
        } finally {
          for (const n of nodes) {
            const { code } = await n.stop();
            assertEquals(code, 0);
          }
        }
      })
    ),
});

Deno.test({
  name: "cli: a fake node reboots with a new key and the chain follows",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const first = await fakeNode(`${dir}/a`, "fake", chain.port);
        const key1 = JSON.parse(line(first.stdout(), "identity:")).public_key;
        assertEquals((await first.stop()).code, 0);
        const second = await fakeNode(`${dir}/a`, "fake", chain.port);
        const key2 = JSON.parse(line(second.stdout(), "identity:")).public_key;
        assertEquals((await second.stop()).code, 0);
        assert(key1 !== key2, "Hyperdrive's fake boot makes a new networking key each time");
        assertEquals((await readNode(chain.url, "fake.os"))?.netKey, key2);
      })
    ),
});

Deno.test("cli: no chain on --fakechain-port is a clear error, exit 1", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const t0 = Date.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        `${dir}/a`,
        "--fake-node-name",
        "fake",
        "--fakechain-port",
        `${port}`,
        "--detached",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assertMatch(stderr, new RegExp(`no chain answers JSON-RPC at http://localhost:${port}`));
    assert(Date.now() - t0 < 30_000, "it must not hang");
  });
});

Deno.test("cli: fake-chain names are <label>.os; the WS port cannot be off", async () => {
  for (
    const [args, re] of [
      [["--fake-node-name", "kit.dev"], /a fake node on the local chain is named <label>\.os/],
      [["--fake-node-name", "a", "--ws-port", "0"], /speaks WebSockets only/],
    ] as [string[], RegExp][]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "home", "--fakechain-port", "8545", "--detached", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 2);
    assertMatch(new TextDecoder().decode(out.stderr), re);
  }
});
