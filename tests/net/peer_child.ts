// Child for the kill -9 networking test: boots peer.os on a given TCP port
// (0 = any), installs the given package on first boot, prints its identity,
// then runs until killed.
import { bootNode } from "../../main.ts";

const [home, port, aliceJson, pkgDir] = Deno.args;
const node = await bootNode({
  home,
  name: "peer.os",
  tcpPort: Number(port),
  wsPort: false,
  httpPort: false,
  pki: [JSON.parse(aliceJson)],
  onPrint: () => {},
});
if (pkgDir) await node.installPackage(pkgDir);
console.log(`IDENTITY ${JSON.stringify(node.identity)}`);
await new Promise(() => {}); // until SIGKILL
