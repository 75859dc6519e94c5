// {{package}}: kit's echo template in TypeScript. Any JSON request is printed and answered
// with "Ack". Written against the process API itself (hyperdeno/sdk/std), not an SDK app:
// it takes any body, not only calls of declared methods.
import { dec, enc, response, std } from "hyperdeno/sdk/std";

export function init(_our: string): void {
  std.printToTerminal(1, "{{package}}: begin");
  for (;;) {
    let message;
    try {
      [, message] = std.receive();
    } catch (e) {
      std.printToTerminal(0, `{{package}}: got SendError: ${JSON.stringify(e)}`);
      continue;
    }
    if (message.tag !== "request") {
      std.printToTerminal(0, "{{package}}: got error while handling message: unexpected Response");
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(dec.decode(message.val.body));
    } catch (e) {
      std.printToTerminal(0, `{{package}}: got error while handling message: ${e}`);
      continue;
    }
    std.printToTerminal(0, `got ${JSON.stringify(body)}`);
    if (message.val.expectsResponse !== undefined) {
      std.sendResponse(response(enc.encode(JSON.stringify("Ack"))), undefined);
    }
  }
}
