// echo:terminal:sys: prints its arguments.
// Self-contained, as every process module is (it cannot import its neighbours).
import { printToTerminal, receive, sendResponse } from "hyperware:process/standard@1.0.0";

const enc = new TextEncoder();
const dec = new TextDecoder(); // lossy, as String::from_utf8_lossy

/**
 * process_lib's script!: the first message carries the arguments; the answer goes
 * back as the response when one is expected, else it is printed.
 */
export function init(our: string): void {
  let req;
  try {
    const [, message] = receive();
    if (message.tag !== "request") return;
    req = message.val;
  } catch {
    return;
  }
  const answer = main(our, dec.decode(req.body));
  if (req.expectsResponse !== undefined) {
    sendResponse(
      { inherit: false, body: enc.encode(answer), metadata: undefined, capabilities: [] },
      undefined,
    );
  } else if (answer !== "") {
    printToTerminal(0, answer);
  }
}

function main(_our: string, args: string): string {
  return args;
}
