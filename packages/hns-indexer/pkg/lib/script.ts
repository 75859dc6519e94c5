// process_lib's script! entry, which hns-indexer:sys's scripts share: the first message
// carries the arguments; `main`'s answer goes back as the response when one is expected,
// else it is printed (when not empty). Scripts import this by relative path.
import { printToTerminal, receive, sendResponse } from "hyperware:process/standard@1.0.0";

export function script(main: (args: string) => string): (our: string) => void {
  return () => {
    let req;
    try {
      const [, message] = receive();
      if (message.tag !== "request") return;
      req = message.val;
    } catch {
      return;
    }
    const answer = main(new TextDecoder().decode(req.body));
    if (req.expectsResponse !== undefined) {
      sendResponse({
        inherit: false,
        body: new TextEncoder().encode(answer),
        metadata: undefined,
        capabilities: [],
      }, undefined);
    } else if (answer !== "") {
      printToTerminal(0, answer);
    }
  };
}

/** The first whitespace-separated word of a script's arguments ("" if none). */
export function firstWord(args: string): string {
  return args.trim().split(/\s+/)[0] ?? "";
}
