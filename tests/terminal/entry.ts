// A node with the runtime console attached, as the CLI runs one (cli.ts is
// wired the same way; see console/README.md), for the console tests to drive in
// tmux or through a pipe. Arguments:
//
//   entry.ts <home> [--name N] [-v N] [--process-verbosity JSON] [--detached] [-l]
//            [--max-log-size B] [--number-log-files N] [--tcp-port P] [--pki FILE]
//            [--peer HOME] [--package DIR]...
//
// --peer boots a second node (peer.dev, no console) in this process, which knows this
// one and is known to it; its prints go to <HOME>/prints.txt. --package installs a
// kit-layout package after boot (once). Writes <home>/entry.ready when the console runs.

import { parseArgs } from "node:util";
import { bootNode, type HyperdenoNode } from "../../main.ts";
import { createConsole } from "../../console/mod.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import { VERSION } from "../../node.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    name: { type: "string" },
    verbosity: { type: "string", short: "v" },
    "process-verbosity": { type: "string" },
    detached: { type: "boolean" },
    "logging-off": { type: "boolean", short: "l" },
    "max-log-size": { type: "string" },
    "number-log-files": { type: "string" },
    "tcp-port": { type: "string" },
    pki: { type: "string" },
    peer: { type: "string" },
    package: { type: "string", multiple: true },
  },
});
const home = positionals[0];
const pki: HnsUpdate[] = values.pki ? JSON.parse(await Deno.readTextFile(values.pki)) : [];

let peer: HyperdenoNode | undefined;
if (values.peer) {
  await Deno.mkdir(values.peer, { recursive: true });
  const prints = await Deno.open(`${values.peer}/prints.txt`, {
    create: true,
    append: true,
  });
  peer = await bootNode({
    home: values.peer,
    name: "peer.dev",
    verbosity: 0,
    onPrint: (_l, text) => void prints.write(new TextEncoder().encode(text + "\n")),
    tcpPort: 0,
    wsPort: false,
    httpPort: false,
    distro: true,
  });
  pki.push(peer.identity);
}

const con = createConsole({
  home,
  verbosity: values.verbosity ? Number(values.verbosity) : 0,
  processVerbosity: values["process-verbosity"]
    ? JSON.parse(values["process-verbosity"])
    : undefined,
  detached: values.detached,
  logging: !values["logging-off"],
  maxLogSize: values["max-log-size"] ? Number(values["max-log-size"]) : undefined,
  numberLogFiles: values["number-log-files"] ? Number(values["number-log-files"]) : undefined,
  version: VERSION,
});
const node = await bootNode(
  {
    home,
    name: values.name,
    console: con,
    tcpPort: values["tcp-port"] ? Number(values["tcp-port"]) : 0,
    wsPort: false,
    httpPort: false,
    pki,
    distro: true,
  } as Parameters<typeof bootNode>[0],
);
if (peer) {
  // the peer learns this node as the hns-indexer would teach it
  await peer.send(
    "our@net:distro:sys",
    (await import("../../net/codec.ts")).encodeNetAction({
      tag: "HnsUpdate",
      update: node.identity,
    }),
  );
}
for (const dir of values.package ?? []) {
  const marker = `${home}/installed-${dir.replaceAll("/", "_")}`;
  try {
    await Deno.stat(marker);
  } catch {
    await node.installPackage(dir);
    await Deno.writeTextFile(marker, "");
  }
}
const running = con.run(node);
await Deno.writeTextFile(`${home}/entry.ready`, String(Deno.pid));
const why = await running;
await node.shutdown();
await peer?.shutdown();
await con.close(why);
Deno.exit(0);
