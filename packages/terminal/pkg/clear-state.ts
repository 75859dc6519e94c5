// clear-state:terminal:sys: deletes a process's saved state (state:distro:sys DeleteState).
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

const USAGE = "\x1b[1mUsage:\x1b[0m clear-state <process-id>";

function main(our: string, args: string): string {
  if (args === "") return `Clear the state of the given process.\n${USAGE}`;
  if (!/^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-.]+$/.test(args)) {
    return `'${args}' is not a process-id (e.g. \`process-name:package-name:publisher.os\`)\n${USAGE}`;
  }
  const answer = ask(
    our.split("@")[0],
    "state:distro:sys",
    enc.encode(JSON.stringify({ DeleteState: args })),
    5,
  );
  // as Hyperdrive: any answer counts
  if (!("body" in answer)) return `Failed to delete state for process ${args}`;
  return `Deleted state of process ${args}`;
}
