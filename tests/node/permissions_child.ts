// Child for the permission-set test, run with `deno run -P=node`: boots a node,
// installs a package holding a component and a JS process module, talks to both
// (including their state), fetches /our over HTTP, and prints one JSON line of
// what it saw. Anything the permission set refuses fails the run.

import { bootNode } from "../../main.ts";

const [home, pkgDir, pkgId] = Deno.args;
const node = await bootNode({ home, name: "perm.dev", httpPort: 0, tcpPort: 0, wsPort: false });
try {
  await node.installPackage(pkgDir);
  const ask = async (process: string, cmd: unknown) => {
    const res = await node.request(`our@${process}:${pkgId}`, JSON.stringify(cmd), {
      timeoutSeconds: 60,
    });
    return JSON.parse(new TextDecoder().decode(res.body));
  };
  const seen: Record<string, unknown> = {};
  for (const process of ["component", "module"]) {
    seen[`${process} our`] = (await ask(process, { op: "our" })).our;
    await ask(process, { op: "state-set", value: `${process} state` });
    seen[`${process} state`] = (await ask(process, { op: "state-get" })).state;
  }
  seen["/our"] = await (await fetch(`${node.httpUrl}/our`)).text();
  console.log(JSON.stringify(seen));
} finally {
  await node.shutdown();
}
