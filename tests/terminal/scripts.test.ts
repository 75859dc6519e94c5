// Every script of the terminal package, typed at a node's console (stdin piped):
// its usage texts and output lines as Hyperdrive's scripts print them, `hi` and
// `m -a` to a second node, scripts of another package by full process id,
// scripts.json capabilities (a script gets what its entry asks for and nothing
// else; one asking for caps the terminal lacks is refused), scripts that crash
// or never answer, top's figures moving under load, and bad input.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { assertStringIncludes, FIXTURES, PipedNode, sleep, until } from "./harness.ts";

const SCRIPTY = `${FIXTURES}scripty`;
/** What the terminal (or a script through it) printed: the print's text. */
const t = (s: string) => `terminal:sys: ${s}`;

Deno.test({
  name: "terminal scripts on one node, with a peer: output lines as Hyperdrive's",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const node = await PipedNode.start(`${root}/home`, [
        "--peer",
        `${root}/peer`,
        "--package",
        SCRIPTY,
      ]);
      try {
        // started first: its notice comes 15 s later, while the rest runs
        const silentMark = await node.line("silent:scripty:test.os");

        let out = await node.run("echo Hello World!", /terminal:sys: Hello World!\n/);
        assertStringIncludes(out, "fake.dev > echo Hello World!\n");

        // help
        out = await node.run("help", /book\.hyperware\.ai/);
        assertStringIncludes(out, t("\n====================\nHyperware Terminal Help\n"));
        assertStringIncludes(out, "\x1b[1mCTRL+R\x1b[0m to search history");
        out = await node.run("help peer", /print the peer/);
        assertStringIncludes(
          out,
          t("\n\x1b[1mpeer\x1b[0m <name>: print the peer's PKI info, if it exists.\n"),
        );
        out = await node.run("help nope", /No help found/);
        assertStringIncludes(out, t("No help found for command \x1b[1mnope\x1b[0m\n"));

        // hi, between the two nodes
        out = await node.run("hi", /Usage/);
        assertStringIncludes(
          out,
          t("Send a text message to another node's terminal.\n\x1b[1mUsage:\x1b[0m hi <node_id> <message>\n"),
        );
        out = await node.run("hi peer.dev", /Not enough/);
        assertStringIncludes(out, t("Not enough arguments given.\n"));
        out = await node.run("hi peer.dev hello over there", /response from/);
        assertStringIncludes(out, t("response from peer.dev: ack\n"));
        await until(async () => {
          const prints = await Deno.readTextFile(`${root}/peer/prints.txt`);
          return prints.includes("fake.dev: hello over there");
        }, "the peer to print the hi");
        out = await node.run("hi nobody.dev hey", /nobody\.dev/);
        assertStringIncludes(out, t("nobody.dev is offline or does not exist\n"));

        // m
        out = await node.run(`m -a 5 peer.dev@hello:hello:sys '"yo"'`, /you said/);
        assertStringIncludes(out, t("Awaiting response for 5s\n"));
        assertStringIncludes(out, t('hello, fake.dev! you said: "yo"\n'));
        out = await node.run(`m our@echo:scripty:test.os '{"a": [1, 2]}' -a 5`, /\{"a"/);
        assertStringIncludes(out, t('{"a": [1, 2]}\n'));
        out = await node.run("m", /Usage/);
        assertStringIncludes(
          out,
          t("Send a request to a process.\n\x1b[1mUsage:\x1b[0m m <target> <body> [-a <await_time>]\n"),
        );
        out = await node.run("m bad target", /Invalid address/);
        assertStringIncludes(out, t('Invalid address: "bad"\n'));
        out = await node.run("m our@echo:scripty:test.os 1 2 3", /Failed/);
        assertStringIncludes(out, t("Failed to parse args.\n"));
        out = await node.run("m our@echo:scripty:test.os {oops -a 5", /not JSON/);
        assertMatch(out, /terminal:sys: m: the body is not JSON: .*; quote JSON with spaces/);
        out = await node.run(`m -a 1 our@silent:scripty:test.os '"x"'`, /Target did not|offline/);
        assertStringIncludes(
          out,
          t("Target did not send response in time, try increasing the await time\n"),
        );

        // alias: set, use, remove
        out = await node.run("alias s shout:scripty:test.os", /alias set\n/);
        assertStringIncludes(out, t("alias s set for shout:scripty:test.os\n"));
        out = await node.run("s make it loud", /MAKE IT LOUD/);
        out = await node.run("alias s", /alias set\n/);
        assertStringIncludes(out, t("alias s removed\n"));
        out = await node.run("s again", /not found/);
        assertStringIncludes(
          out,
          t("error calling script: 's' not found, either as an alias or process ID\n"),
        );
        out = await node.run("alias x NOT_A_PID", /Invalid/);
        assertStringIncludes(
          out,
          t("Invalid process ID.\n\x1b[1mUsage:\x1b[0m alias <alias_name> <process_id>\n"),
        );

        // cat
        out = await node.run("cat /scripty:test.os/pkg/manifest.json", /process_name/);
        assertStringIncludes(out, '"process_name": "echo"');
        out = await node.run("cat /nope/nothing", /failed/);
        assertStringIncludes(out, t("failed to read file /nope/nothing from VFS.\n"));

        // clear-state, kill, top
        out = await node.run("clear-state hello:hello:sys", /state/);
        assertStringIncludes(out, t("Deleted state of process hello:hello:sys\n"));
        out = await node.run("clear-state Nope", /not a process-id/);
        assertStringIncludes(
          out,
          t("'Nope' is not a process-id (e.g. `process-name:package-name:publisher.os`)\n"),
        );
        out = await node.run("top hello:hello:sys", /capabilities/);
        assertMatch(
          out,
          /terminal:sys: hello:hello:sys:\n {4}\/hello:sys\/pkg\/hello\.ts\n {4}wit: 1\n {4}on-exit: Restart\n {4}public: true\n {4}messages: \d+ waiting, \d+ in, \d+ out; last minute: \d+ handled.*; heap [\d.]+ MiB \(\+[\d.]+ MiB external\)\n {4}capabilities:\n {8}\d+, use -c to display\n/,
        );
        out = await node.run("top hello:hello:sys -c", /capabilities/);
        assertStringIncludes(out, 'fake.dev@hello:hello:sys("messaging")\n');
        out = await node.run("top", /running processes/);
        assertMatch(out, /\n\ntop: \d+ running processes\n/);
        assertMatch(out, /\nnet:distro:sys:\n {4}\(runtime\)\n/);
        out = await node.run("top bad!", /invalid/);
        assertStringIncludes(
          out,
          t("invalid process id: Invalid character\n\x1b[1mUsage:\x1b[0m\n"),
        );
        out = await node.run("kill secret:scripty:test.os", /killed/);
        assertStringIncludes(out, t("killed process secret:scripty:test.os\n"));
        out = await node.run("top secret:scripty:test.os", /not running/);
        assertStringIncludes(out, t("process secret:scripty:test.os not running\n"));
        out = await node.run("kill bogus", /Invalid/);
        assertStringIncludes(
          out,
          t("Invalid process ID.\n\x1b[1mUsage:\x1b[0m kill <process_id>\n"),
        );

        // net
        out = await node.run("net-diagnostics", /entries in the PKI/);
        assertStringIncludes(
          out,
          t(
            '\nindexing from contract address 0x000000000044C6B8Cb4d8f0F889a3E47664EAeda\nour Identity: Identity {\n    name: "fake.dev",\n',
          ),
        );
        assertMatch(
          out,
          /we have connections with 1 peers \(32 max\):\n {4}peer\.dev, last message \d+s ago\n/,
        );
        assert(!out.includes("open peer connections"), "no hyperdeno-only lines");
        out = await node.run("peer peer.dev", /routing/);
        assertMatch(
          out,
          /terminal:sys: peer identity for peer\.dev:\n {4}networking key: 0x[0-9a-f]{64}\n {4}routing: Direct \{ ip: "127\.0\.0\.1", ports: \{"tcp": \d+\} \}\n/,
        );
        out = await node.run("peer nobody.dev", /no PKI/);
        assertStringIncludes(out, t("no PKI entry found with name nobody.dev\n"));
        out = await node.run("peers", /routing/);
        assertMatch(out, /terminal:sys: identities of current connected peers:\npeer\.dev:\n/);

        // hfetch, by both names
        for (const name of ["hfetch", "kfetch"]) {
          out = await node.run(name, /running processes/);
          assertMatch(out, /Hyperware 0\.1\.0\n/);
          assertMatch(out, /pubkey: 0x[0-9a-f]{64}\n/);
          assertMatch(out, /routing: direct at 127\.0\.0\.1 with tcp\n/);
          assertMatch(out, /\d+ eth providers for chain IDs [\d, ]+\n/);
        }

        // namehash-to-name asks hns-indexer
        out = await node.run("namehash-to-name xyz", /namehash/);
        assertStringIncludes(out, t("'xyz' is not a namehash"));
        out = await node.run(`namehash-to-name 0x${"ab".repeat(32)}`, /hns-indexer|no name found/);

        // eth providers
        out = await node.run("get-providers", /provider\(s\)|No providers/);
        out = await node.run(
          "add-rpcurl-provider wss://rpc.invalid/ws --chain-id 31337 --trusted false --auth-type bearer --auth-value tok",
          /Successfully|Error|denied/,
        );
        assertStringIncludes(
          out,
          t("Successfully added RPC URL provider: wss://rpc.invalid/ws on chain 31337 with authentication\n"),
        );
        out = await node.run("get-providers", /provider\(s\)/);
        assertMatch(
          out,
          /\d+\. Chain ID: 31337\n {3}Trusted: false\n {3}Type: RPC URL\n {3}URL: "wss:\/\/rpc\.invalid\/ws"\n {3}Auth: Configured\n/,
        );
        out = await node.run("remove-provider 31337 wss://rpc.invalid/ws", /provider/);
        assertStringIncludes(
          out,
          t("Successfully removed provider 'wss://rpc.invalid/ws' from chain 31337\n"),
        );
        out = await node.run("remove-provider 31337 wss://rpc.invalid/ws", /not found/);
        assertStringIncludes(
          out,
          t("Provider 'wss://rpc.invalid/ws' not found on chain 31337 (may have already been removed)\n"),
        );
        out = await node.run(
          "add-node-provider 31337 other.dev 0xabc 127.0.0.1 9000",
          /Successfully|Error/,
        );
        assertStringIncludes(
          out,
          t("Successfully added node provider: other.dev (127.0.0.1:9000) on chain 31337 with trusted=false\n"),
        );
        out = await node.run("remove-provider 31337 other.dev", /removed|not found/);
        assertStringIncludes(
          out,
          t("Successfully removed provider 'other.dev' from chain 31337\n"),
        );
        out = await node.run("add-node-provider 1", /Usage/);
        assertStringIncludes(
          out,
          t("Usage: add-node-provider <chain-id> <node-name> <public-key> <ip-address> <ws-port> [--trusted <true|false>]\n"),
        );
        out = await node.run("add-rpcurl-provider ftp://x", /URL must/);
        assertStringIncludes(
          out,
          t("Error: URL must start with http://, https://, ws://, or wss://\n"),
        );
        out = await node.run("remove-provider x y", /chain_id/);
        assertStringIncludes(out, t("Invalid chain_id: 'x'. Must be a number.\n"));

        // scripts of another package, by full process id, and the terminal's errors
        out = await node.run("shout:scripty:test.os by full id", /BY FULL ID/);
        out = await node.run("unknowncmd now", /not found/);
        assertStringIncludes(
          out,
          t("error calling script: 'unknowncmd' not found, either as an alias or process ID\n"),
        );
        out = await node.run("nope:scripty:test.os", /error calling script/);
        assertStringIncludes(out, t("error calling script: script not in scripts.json file\n"));
        out = await node.run("hello:hello:sys", /error calling script/);
        assertStringIncludes(out, t("error calling script: no scripts manifest in package\n"));

        // scripts.json capabilities
        out = await node.run("peek:scripty:test.os", /peek:/);
        assertStringIncludes(
          out,
          t("peek: vfs says send error: timeout; secret: send error: timeout\n"),
        );
        assertMatch(out, /doesn't have capability to message process vfs:distro:sys/);
        out = await node.run("greedy:scripty:test.os", /error calling script/);
        assertStringIncludes(
          out,
          t(
            'error calling script: greedy:scripty:test.os asks for capabilities terminal:terminal:sys does not hold: fake.dev@secret:scripty:test.os("messaging")\n',
          ),
        );
        assert(!out.includes("greedy ran"));

        // a script that crashes: the kernel's report; the terminal adds nothing (as Hyperdrive's,
        // it lets a script that ends without answering go: kit's call_init! scripts never answer)
        const crashMark = await node.line("crash:scripty:test.os");
        await node.waitFor(/Error: boom\n.*\n/, 20_000, crashMark);
        out = node.since(crashMark);
        assertMatch(
          out,
          // deno-lint-ignore no-control-regex
          /ended with error:(\x1b\[0m)?\nError: boom\n {4}at init \(\/scripty:test\.os\/pkg\/crash\.ts:\d+:\d+\)\n/,
        );
        await sleep(2500); // the terminal checks on its scripts every second
        await node.run("echo after the crash", /terminal:sys: after the crash\n/);
        assert(!node.since(crashMark).includes("crash:scripty:test.os ("), "nothing more about it");

        // top's figures move under load
        out = await node.run("top echo:scripty:test.os", /capabilities/);
        const before = Number(/messages: \d+ waiting, (\d+) in/.exec(out)![1]);
        await node.run("flood:scripty:test.os 3 5000", /flood: sent \d+/, 30_000);
        out = await node.run("top echo:scripty:test.os", /capabilities/);
        const m =
          /messages: (\d+) waiting, (\d+) in, \d+ out; last minute: (\d+) handled, p50 ([\d.]+) ms, p99 ([\d.]+) ms; heap ([\d.]+) MiB/
            .exec(out);
        assert(m, `figures in ${out}`);
        assert(Number(m[2]) >= before + 10_000, `in: ${m[2]} after ${before}`);
        assert(Number(m[3]) >= 10_000, `handled: ${m[3]}`);
        assert(Number(m[4]) > 0 && Number(m[5]) >= Number(m[4]), `p50 ${m[4]} p99 ${m[5]}`);

        // the silent script was pointed out, once
        await node.waitFor(
          /terminal:sys: silent:scripty:test\.os: no answer after 1\d s; still running as \d+:scripty:test\.os\n/,
          30_000,
          silentMark,
        );
        // the node still serves
        await node.run("echo still here", /still here/);
      } finally {
        await node.stop();
      }
    });
  },
});

Deno.test({
  name: "piped and detached: lines are commands; bad lines get one error each; EOF keeps the node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const node = await PipedNode.start(`${root}/home`, ["--detached"]);
      try {
        await node.waitFor(/\(detached\)\n/);
        let out = await node.run("echo one", /terminal:sys: one\n/);
        // not UTF-8, a huge line, and a line with only spaces
        let mark = node.output.length;
        await node.write(new Uint8Array([0xff, 0xfe, 0x20, 0x61, 0x0a]));
        await node.write("x".repeat(70 * 1024) + "\n");
        await node.write("   \n");
        out = await node.run("echo two", /terminal:sys: two\n/);
        out = node.since(mark);
        assertMatch(out, /console: line 2 is not valid UTF-8; ignored\n/);
        assertMatch(out, /console: line 3 is \d+ bytes \(limit 65536\); ignored\n/);
        assertEquals(out.match(/console:/g)?.length, 2);
        mark = node.output.length;
        await node.closeInput();
        // with stdin gone the node keeps running until a signal
        await new Promise((r) => setTimeout(r, 500));
        const status = await node.signal("SIGTERM");
        assertEquals(status.code, 0);
        assertStringIncludes(node.since(mark), "exiting due to SIGTERM\n");
      } finally {
        await node.stop();
      }
    });
  },
});
