// The command line parsed in-process: Hyperdrive's forms of --process-verbosity,
// port 0 turning a transport off, -V, and clear usage errors for bad input.

import { assert, assertEquals } from "../assert.ts";
import { parseCli, parseProcessVerbosity, type RunConfig, UsageError } from "../../cli.ts";

function run(args: string[]): RunConfig {
  const cfg = parseCli(args);
  assert(cfg.action === "run", `expected a node to run, got ${cfg.action}`);
  return cfg;
}

function usageError(args: string[]): string {
  try {
    parseCli(args);
  } catch (e) {
    assert(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e.message;
  }
  throw new Error(`${args.join(" ")}: parsed without an error`);
}

Deno.test("cli: --process-verbosity takes Hyperdrive's serde form and the short one", () => {
  // Hyperdrive's HashMap<ProcessId, ProcessVerbosityVal> as serde_json reads it
  assertEquals(
    parseProcessVerbosity(
      '{"a:b:c.os": {"U8": 3}, "d:e:f.os": "Muted", "g:h:i.os": {"U8": 0}, "j:k:l.os": {"Muted": null}}',
    ),
    { "a:b:c.os": 3, "d:e:f.os": "muted", "g:h:i.os": 0, "j:k:l.os": "muted" },
  );
  // the short form (Hyperdrive's FromStr for the value: m, mute, muted, or a number)
  assertEquals(
    parseProcessVerbosity('{"a:b:c.os": 2, "d:e:f.os": "m", "g:h:i.os": "mute", "x:y:z": "muted"}'),
    { "a:b:c.os": 2, "d:e:f.os": "muted", "g:h:i.os": "muted", "x:y:z": "muted" },
  );
  // Hyperdrive's default value is the empty string: no overrides
  assertEquals(parseProcessVerbosity(""), {});
  assertEquals(run(["home", "--process-verbosity", ""]).processVerbosity, {});
  assertEquals(
    run(["home", "--process-verbosity", '{"terminal:terminal:sys": {"U8": 2}}']).processVerbosity,
    { "terminal:terminal:sys": 2 },
  );
});

Deno.test("cli: bad --process-verbosity values are usage errors naming the process", () => {
  for (
    const [json, want] of [
      ['{"a:b:c": {"U8": 256}}', /bad level for a:b:c: \{"U8":256\}/], // not a u8
      ['{"a:b:c": {"U8": -1}}', /bad level for a:b:c/],
      ['{"a:b:c": {"U8": 1.5}}', /bad level for a:b:c/],
      ['{"a:b:c": {"U8": 1, "Muted": null}}', /bad level for a:b:c/],
      ['{"a:b:c": {"Muted": 1}}', /bad level for a:b:c/],
      ['{"a:b:c": "Loud"}', /bad level for a:b:c: "Loud"/],
      ['{"a:b:c": null}', /bad level for a:b:c: null/],
      ['{"not-a-process-id": 1}', /bad ProcessId "not-a-process-id": Missing field/],
      ["[1, 2]", /expected a JSON object/],
      ["{oops", /--process-verbosity: /],
    ] as [string, RegExp][]
  ) {
    const message = usageError(["home", "--process-verbosity", json]);
    assert(message.startsWith("--process-verbosity: "), message);
    assert(want.test(message), `${json}: ${message} does not match ${want}`);
  }
});

Deno.test("cli: --tcp-port 0 and --ws-port 0 turn that transport off, as in Hyperdrive", () => {
  const tcpOff = run(["home", "--tcp-port", "0"]);
  assertEquals([tcpOff.tcpPort, tcpOff.wsPort], [false, undefined]);
  const wsOff = run(["home", "--ws-port", "0", "--tcp-port", "10123"]);
  assertEquals([wsOff.tcpPort, wsOff.wsPort], [10123, false]);
  const defaults = run(["home"]);
  assertEquals([defaults.tcpPort, defaults.wsPort], [undefined, undefined]);
  // the HTTP port keeps its meaning: 0 is any free port
  assertEquals(run(["home", "--port", "0"]).httpPort, 0);
  assertEquals(
    usageError(["home", "--tcp-port", "0", "--ws-port", "0"]),
    "--tcp-port 0 and --ws-port 0 turn off both networking transports",
  );
  assertEquals(
    usageError(["home", "--ws-port", ""]),
    "--ws-port must be a port number 0-65535, got ",
  );
  assertEquals(
    usageError(["home", "--tcp-port", "65536"]),
    "--tcp-port must be a port number 0-65535, got 65536",
  );
});

Deno.test("cli: -V and --version ask for the version, -h and --help for help", () => {
  assertEquals(parseCli(["-V"]), { action: "version" });
  assertEquals(parseCli(["--version"]), { action: "version" });
  assertEquals(parseCli(["-h"]), { action: "help" });
  assertEquals(parseCli(["--help", "-V"]), { action: "help" });
  // -v stays verbosity, as in Hyperdrive
  assertEquals(run(["home", "-v", "2"]).verbosity, 2);
});

Deno.test("cli: --own-workers gives every process a Worker of its own; components share by default", () => {
  assertEquals(run(["home"]).ownWorkers, false);
  assertEquals(run(["home", "--own-workers"]).ownWorkers, true);
});
