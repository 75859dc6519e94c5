// Child for the kill -9 test: boots a node, then writes process state in a
// loop, printing "ACK n" only after set-state n was acknowledged.
import { bootNode } from "../../main.ts";

const [home, pkgDir] = Deno.args;
const node = await bootNode({ home, name: "fake.dev", tcpPort: 0, wsPort: false });
if (pkgDir) await node.installPackage(pkgDir);
for (let i = 1;; i++) {
  await node.request("our@s:k9:test.os", JSON.stringify({ op: "state-set", value: String(i) }));
  console.log(`ACK ${i}`);
}
