// kit's development verbs for hyperdeno, one `deno task` each (deno.json):
//
//   deno task fake-node [--home ..] [--port 8080] [--fake-node-name fake.os] [-- NODE ARGS]
//   deno task chain [--port 8545]
//   deno task new <DIR> [--template chat|echo|fibonacci] [--ui]
//   deno task build [DIR]
//   deno task start-package [DIR] [--port 8080]
//   deno task build-start-package [DIR] [--port 8080]
//   deno task remove-package [DIR] [--package P --publisher U] [--port 8080]
//   deno task inject-message <PROCESS> <BODY_JSON> [--node N] [--port 8080] [--blob F] [--non-block]
//   deno task view-api [PACKAGE_ID] [--port 8080]
//   deno task run-tests [PATH]
//
// Names, flags and defaults are kit's (src/main.rs); `deno task kit <verb>` runs any of them,
// kit's aliases included (f, c, n, b, s, bs, r, i, v, t).

import { helpText, parseArgs, UsageError, type VerbSpec } from "./args.ts";
import { BUILD, runBuild } from "./build.ts";
import { CHAIN, runChain } from "./chain.ts";
import { FAKE_NODE, runFakeNode } from "./fake_node.ts";
import { INJECT_MESSAGE, runInjectMessage } from "./inject_message.ts";
import { NEW, runNew } from "./new.ts";
import { RUN_TESTS, runRunTests } from "./run_tests.ts";
import {
  BUILD_START_PACKAGE,
  REMOVE_PACKAGE,
  runBuildStartPackage,
  runRemovePackage,
  runStartPackage,
  START_PACKAGE,
} from "./start_package.ts";
import { runViewApi, VIEW_API } from "./view_api.ts";
import type { Parsed } from "./args.ts";

type Runner = (args: Parsed) => Promise<unknown>;

/** Every verb: its spec and what runs it (a number result is the exit code). */
export const VERBS: [VerbSpec, Runner][] = [
  [FAKE_NODE, runFakeNode],
  [CHAIN, runChain],
  [NEW, runNew],
  [BUILD, runBuild],
  [START_PACKAGE, runStartPackage],
  [BUILD_START_PACKAGE, runBuildStartPackage],
  [REMOVE_PACKAGE, runRemovePackage],
  [INJECT_MESSAGE, runInjectMessage],
  [VIEW_API, runViewApi],
  [RUN_TESTS, runRunTests],
];

/** kit's own names for verbs hyperdeno names otherwise. */
const KIT_NAMES: Record<string, string> = { "boot-fake-node": "fake-node" };

export function findVerb(name: string): [VerbSpec, Runner] | undefined {
  const n = KIT_NAMES[name] ?? name;
  return VERBS.find(([s]) => s.name === n || s.alias === n);
}

function usage(): string {
  return [
    "kit's verbs for hyperdeno",
    "",
    "Usage: deno task <verb> [OPTIONS]   (or deno task kit <verb> [OPTIONS])",
    "",
    "Verbs:",
    ...VERBS.map(([s]) =>
      `  ${s.name.padEnd(22)} ${s.about}${s.alias ? ` [alias: ${s.alias}]` : ""}`
    ),
  ].join("\n");
}

/** Runs one verb's command line; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const verb = findVerb(name);
  if (!verb) {
    console.error(`error: unrecognized verb '${name}'\n\n${usage()}`);
    return 2;
  }
  const [spec, run] = verb;
  let parsed;
  try {
    parsed = parseArgs(spec, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${helpText(spec)}`);
      return 2;
    }
    throw e;
  }
  if (parsed === "help") {
    console.log(helpText(spec));
    return 0;
  }
  try {
    const result = await run(parsed);
    return typeof result === "number" ? result : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${helpText(spec)}`);
      return 2;
    }
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
