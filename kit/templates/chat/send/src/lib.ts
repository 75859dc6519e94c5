// send:{{package}}:{{publisher}}, a terminal script: `send:{{package}}:{{publisher}} <node> <message>`
// sends <message> to <node> through this node's {{package}}.
import { addressString, dec, request, std } from "hyperdeno/sdk/std";

const CHAT = "{{package}}:{{package}}:{{publisher}}";

export function init(_our: string): void {
  let args: string;
  try {
    const [, message] = std.receive();
    if (message.tag !== "request") throw new Error("not a request");
    args = dec.decode(message.val.body);
  } catch {
    std.printToTerminal(0, "failed to get args!");
    return;
  }
  const space = args.indexOf(" ");
  if (space < 0) {
    std.printToTerminal(0, `usage:\nsend:{{package}}:{{publisher}} target message`);
    return;
  }
  const [process, pkg, publisher] = CHAT.split(":");
  const target = {
    node: std.our().node,
    process: { processName: process, packageName: pkg, publisherNode: publisher },
  };
  const send = { Send: { target: args.slice(0, space), message: args.slice(space + 1) } };
  try {
    const [, answer] = std.sendAndAwaitResponse(target, request(send, 5), undefined);
    if (answer.tag !== "response" || JSON.parse(dec.decode(answer.val[0].body)) !== "Send") {
      std.printToTerminal(0, `did not receive expected Ack from ${addressString(target)}`);
    }
  } catch {
    std.printToTerminal(0, `did not receive expected Response from ${CHAT}`);
  }
}
