// {{package}}-test: kit's echo test: "test" sent to {{package}} is answered "Ack".
import { call, fail, serveTests } from "hyperdeno/tester";

const ECHO = "{{package}}:{{package}}:{{publisher}}";

export function init(_our: string): void {
  serveTests("{{package}}_test", ({ our, nodes }) => {
    if (nodes.length !== 1) fail("{{package}}_test", "runs on one node");
    const answer = call(`${our.node}@${ECHO}`, "test");
    if (answer !== "Ack") fail("{{package}}_test", `answered ${JSON.stringify(answer)}`);
  });
}
