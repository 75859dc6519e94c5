// kill:terminal:sys: ends a process now (KernelCommand KillProcess), bypassing its on-exit.
// Beyond Hyperdrive: a process that is not running is said so at once (the kernel does
// not answer a kill of nothing, so Hyperdrive's kill waits out its 60 s).
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

function main(our: string, args: string): string {
  if (!/^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-.]+$/.test(args)) {
    return "Invalid process ID.\n\x1b[1mUsage:\x1b[0m kill <process_id>";
  }
  const node = our.split("@")[0];
  const kernel = (command: unknown, timeoutS: number) => {
    const a = ask(node, "kernel:distro:sys", enc.encode(JSON.stringify(command)), timeoutS);
    if (!("body" in a)) return undefined;
    try {
      return JSON.parse(dec.decode(a.body));
    } catch {
      return null;
    }
  };
  const seen = kernel({ Debug: { Process: args } }, 5);
  if (seen?.Debug && seen.Debug.Process === null) return `process ${args} not running`;
  const killed = kernel({ KillProcess: args }, 60);
  if (killed === undefined) return "failed to get response from kernel";
  if (!killed || typeof killed.KilledProcess !== "string") {
    return "failed to parse kernel response";
  }
  return `killed process ${killed.KilledProcess}`;
}
