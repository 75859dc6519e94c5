// Booting as an existing node from the real CLI, on a real local chain (anvil + chain/): a
// keyfile in Hyperdrive's format in home, for a name minted with its key. The node checks its
// ~net-key and routing on chain (Hyperdrive's assign_routing), takes its routing from there, and
// another node finds it through hns-indexer alone; when the chain disagrees the boot is refused
// with Hyperdrive's message and exit code 101, and the home is left as it was.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { readNode } from "../../chain/mod.ts";
import { parseCli, UsageError } from "../../cli.ts";
import { KEYFILE_NAME } from "../../modules/keyfile/mod.ts";
import {
  accepts,
  type CliProcess,
  eventually,
  existingCliNode,
  fakeCliNode,
  freePort,
  homeWithKeyfile,
  line,
  makeKeyfile,
  mintDirect,
  mintIndirect,
  PASSWORD,
  rpcHello,
  runCli,
  snapshot,
  withChain,
  withTempDir,
} from "./helpers.ts";

const T = { sanitizeResources: false, sanitizeOps: false };

async function stopAll(nodes: CliProcess[]) {
  const codes = [];
  for (const n of nodes) codes.push((await n.stop()).code);
  return codes;
}

Deno.test({
  ...T,
  name:
    "cli: an existing node boots from its keyfile, direct as the chain says, found via hns-indexer",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const kf = await makeKeyfile("alice.os");
        const ports = { ws: freePort(), tcp: freePort() };
        await mintDirect(chain.url, "alice.os", kf.publicKey, ports);
        await homeWithKeyfile(`${dir}/a`, kf);
        const nodes: CliProcess[] = [];
        try {
          const a = await existingCliNode(`${dir}/a`, chain.port);
          nodes.push(a);
          const id = JSON.parse(line(a.stdout(), "identity:"));
          // the chain's routing: its ~ip and both ports; no routers
          assertEquals(id, {
            name: "alice.os",
            public_key: kf.publicKeyHex,
            ips: ["127.0.0.1"],
            ports: { tcp: ports.tcp, ws: ports.ws },
            routers: [],
          });
          // listening on every interface, as Hyperdrive: another loopback address reaches it
          assert(await accepts("127.0.0.2", ports.tcp), "TCP not on 0.0.0.0");
          assert(await accepts("127.0.0.2", ports.ws), "WS not on 0.0.0.0");
          // the keyfile is kept as it was; later boots check the chain again
          assertEquals(await Deno.readFile(`${dir}/a/${KEYFILE_NAME}`), kf.bytes);
          assertEquals(await Deno.readTextFile(`${dir}/a/.onchain`), "alice.os\n");
          assertEquals(await Deno.readTextFile(`${dir}/a/.node-name`), "alice.os");

          // a fake node, told nothing but the chain, reaches it and is reached
          const b = await fakeCliNode(`${dir}/b`, "bob", chain.port);
          nodes.push(b);
          const urlA = line(a.stdout(), "http:");
          const urlB = line(b.stdout(), "http:");
          assertEquals(
            await eventually(() => rpcHello(urlB, "alice.os", "hi alice"), 60_000),
            "hello, bob.os! you said: hi alice",
          );
          assertEquals(
            await eventually(() => rpcHello(urlA, "bob.os", "hi bob"), 60_000),
            "hello, alice.os! you said: hi bob",
          );
        } finally {
          assertEquals(await stopAll(nodes), nodes.map(() => 0));
        }

        // booted again: checked again, same identity (the chain was not written)
        const before = await readNode(chain.url, "alice.os");
        const again = await existingCliNode(`${dir}/a`, chain.port);
        const id2 = JSON.parse(line(again.stdout(), "identity:"));
        assertEquals((await again.stop()).code, 0);
        assertEquals(id2.ports, { tcp: ports.tcp, ws: ports.ws });
        assertEquals(await readNode(chain.url, "alice.os"), before);
      })
    ),
});

Deno.test({
  ...T,
  name:
    "cli: refused when the chain's key differs, the name is not on chain, or a port flag differs",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const kf = await makeKeyfile("carol.os");
        const other = await makeKeyfile("carol.os");
        const home = `${dir}/c`;
        await homeWithKeyfile(home, kf);
        const before = await snapshot(home);
        const boot = (extra: string[]) =>
          runCli([home, "--password", PASSWORD, "--detached", "--port", "0", ...extra]);

        // not on chain: every provider "stale" (the local chain is the only one in simulation)
        let r = await boot(["--fakechain-port", `${chain.port}`]);
        assertEquals(r.code, 101, r.stderr);
        assertEquals(
          r.stderr.trim(),
          "error: information used to boot does not match information onchain: " +
            "Provider returned empty hypermap entry (stale data)",
        );
        assertEquals(await snapshot(home), before);

        // minted with another key
        const wsPort = freePort();
        await mintDirect(chain.url, "carol.os", other.publicKey, { ws: wsPort });
        r = await boot(["--fakechain-port", `${chain.port}`]);
        assertEquals(r.code, 101, r.stderr);
        assertEquals(
          r.stderr.trim(),
          "error: information used to boot does not match information onchain: " +
            `Networking key from PKI (${other.publicKeyHex}) does not match our saved ` +
            `networking key (${kf.publicKeyHex})`,
        );
        assertEquals(await snapshot(home), before);

        // on Base's settings, with --rpc at the local chain (Hypermap at the same address): the
        // first provider's answer settles it, no fallback URL is needed
        r = await boot(["--rpc", chain.wsUrl]);
        assertEquals(r.code, 101, r.stderr);
        assertMatch(r.stderr, /Networking key from PKI \(0x[0-9a-f]{64}\) does not match/);
        assertEquals(await snapshot(home), before);

        // the right key, but --ws-port says another port than the chain's
        await mintDirect(chain.url, "carol.os", kf.publicKey, { ws: wsPort });
        const flag = wsPort === 65535 ? wsPort - 1 : wsPort + 1;
        r = await boot(["--fakechain-port", `${chain.port}`, "--ws-port", `${flag}`]);
        assertEquals(r.code, 101, r.stderr);
        assertEquals(
          r.stderr.trim(),
          "error: information used to boot does not match information onchain: " +
            `Binary used --ws-port flag to set port to ${flag}, but node is using port ` +
            `${wsPort} onchain.`,
        );
        assertEquals(await snapshot(home), before);

        // a wrong password is still the keyfile's error (exit 1), before any chain
        r = await runCli([home, "--password", "nope", "--detached", "--port", "0"]);
        assertEquals(r.code, 1);
        assertMatch(r.stderr, /error: failed to decrypt networking keys/);
        assertEquals(await snapshot(home), before);
      })
    ),
});

Deno.test({
  ...T,
  name:
    "cli: an existing indirect node (~routers on chain) boots and is reached through its router",
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const nodes: CliProcess[] = [];
        try {
          const router = await fakeCliNode(`${dir}/r`, "router", chain.port, [
            "--max-passthroughs",
            "8",
          ]);
          nodes.push(router);
          const kf = await makeKeyfile("dana.os", ["router.os"]);
          await mintIndirect(chain.url, "dana.os", kf.publicKey, ["router.os"]);
          await homeWithKeyfile(`${dir}/d`, kf);
          const d = await existingCliNode(`${dir}/d`, chain.port);
          nodes.push(d);
          assertEquals(JSON.parse(line(d.stdout(), "identity:")), {
            name: "dana.os",
            public_key: kf.publicKeyHex,
            ips: [],
            ports: {},
            routers: ["router.os"],
          });
          const e = await fakeCliNode(`${dir}/e`, "erin", chain.port);
          nodes.push(e);
          const urlD = line(d.stdout(), "http:");
          const urlE = line(e.stdout(), "http:");
          // erin reaches dana only through router.os (dana listens on nothing)
          assertEquals(
            await eventually(() => rpcHello(urlE, "dana.os", "hi dana"), 60_000),
            "hello, erin.os! you said: hi dana",
          );
          assertEquals(
            await eventually(() => rpcHello(urlD, "erin.os", "hi erin"), 60_000),
            "hello, dana.os! you said: hi erin",
          );
        } finally {
          assertEquals(await stopAll(nodes), nodes.map(() => 0));
        }
      })
    ),
});

Deno.test("cli: --reveal-ip is Hyperdrive's valueless switch, accepted with no effect", () => {
  const cfg = parseCli(["home", "--reveal-ip"]);
  assert(cfg.action === "run");
  assertEquals(cfg.unsupported, []);
  // clap's SetTrue takes no value
  let message = "";
  try {
    parseCli(["home", "--reveal-ip=false"]);
  } catch (e) {
    assert(e instanceof UsageError);
    message = e.message;
  }
  assertMatch(message, /reveal-ip/);
  assertEquals(
    (parseCli(["home", "--soft-ulimit", "9"]) as { unsupported: string[] }).unsupported,
    [
      "soft-ulimit",
    ],
  );
});
