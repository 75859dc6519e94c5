// {{package}}-test: kit's chat test. On the first test node: Send "hello" to the second node
// through our {{package}}, then ask the second node's {{package}} for its history with us.
import { call, equal, fail, serveTests } from "hyperdeno/tester";

const CHAT = "{{package}}:{{package}}:{{publisher}}";

export function init(_our: string): void {
  serveTests("{{package}}_test", ({ our, nodes }) => {
    if (nodes.length < 2) fail("{{package}}_test", "needs two nodes");
    const message = "hello";
    const sent = call(`${our.node}@${CHAT}`, { Send: { target: nodes[1], message } });
    if (sent !== "Send") fail("{{package}}_test", `Send answered ${JSON.stringify(sent)}`);
    const history = call(`${nodes[1]}@${CHAT}`, { History: our.node });
    const expected = { History: [{ author: our.node, content: message }] };
    if (!equal(history, expected)) {
      fail("{{package}}_test", `${JSON.stringify(history)} != ${JSON.stringify(expected)}`);
    }
  });
}
