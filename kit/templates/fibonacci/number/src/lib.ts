// number:{{package}}:{{publisher}}, a terminal script: `number:{{package}}:{{publisher}} <n>` asks
// this node's {{package}} for fibonacci(n) (which {{package}} prints).
import { dec, request, std } from "hyperdeno/sdk/std";

const FIBONACCI = "{{package}}:{{package}}:{{publisher}}";

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
  const parsed = Number(args.trim());
  const number = Number.isInteger(parsed) && parsed >= 0 && parsed <= 0xffffffff ? parsed : 0;
  const [process, pkg, publisher] = FIBONACCI.split(":");
  const target = {
    node: std.our().node,
    process: { processName: process, packageName: pkg, publisherNode: publisher },
  };
  try {
    const [, answer] = std.sendAndAwaitResponse(target, request({ Number: number }, 5), undefined);
    const body = answer.tag === "response" ? JSON.parse(dec.decode(answer.val[0].body)) : null;
    if (!body || typeof body !== "object" || !("Number" in body)) {
      std.printToTerminal(0, `did not receive expected Ack from ${FIBONACCI}`);
    }
  } catch {
    std.printToTerminal(0, `did not receive expected Response from ${FIBONACCI}`);
  }
}
