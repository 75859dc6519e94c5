// hi:terminal:sys: a text message to another node's terminal (its net prints it, answers "ack").
// Self-contained, as every process module is (it cannot import its neighbours).
import {
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendResponse,
} from "hyperware:process/standard@1.0.0";

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

type Answer = { body: Uint8Array } | { error: "timeout" | "offline" };

/** A request to `node`@`pid` and its answer, or why none came. */
function ask(node: string, pid: string, body: Uint8Array, timeoutS: number): Answer {
  const [processName, packageName, publisherNode] = pid.split(":");
  try {
    const [, m] = sendAndAwaitResponse(
      { node, process: { processName, packageName, publisherNode } },
      {
        inherit: false,
        expectsResponse: BigInt(timeoutS),
        body,
        metadata: undefined,
        capabilities: [],
      },
      undefined,
    );
    return m.tag === "response" ? { body: m.val[0].body } : { error: "timeout" };
  } catch (e) {
    return {
      error: (e as { payload?: { kind?: string } })?.payload?.kind === "offline"
        ? "offline"
        : "timeout",
    };
  }
}

const USAGE = "\x1b[1mUsage:\x1b[0m hi <node_id> <message>";

function main(our: string, args: string): string {
  if (args === "") return `Send a text message to another node's terminal.\n${USAGE}`;
  const space = args.indexOf(" ");
  if (space < 0) return `Not enough arguments given.\n${USAGE}`;
  let node = args.slice(0, space);
  const message = args.slice(space + 1);
  if (node === "our") node = our.split("@")[0];
  const answer = ask(node, "net:distro:sys", enc.encode(message), 10);
  if ("body" in answer) {
    try {
      return `response from ${node}: ${
        new TextDecoder("utf-8", { fatal: true }).decode(answer.body)
      }`;
    } catch {
      return `malformed response from ${node}`;
    }
  }
  return answer.error === "timeout"
    ? `message to ${node} timed out`
    : `${node} is offline or does not exist`;
}
