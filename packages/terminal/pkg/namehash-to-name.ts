// namehash-to-name:terminal:sys: the Hypermap name of a namehash, as hns-indexer knows it
// (its NamehashToName request). Hyperdrive lists this script in scripts.json but ships no
// code for it; this one asks the indexer, which now holds the names.
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

const USAGE = "\x1b[1mUsage:\x1b[0m namehash-to-name <namehash>";

function main(our: string, args: string): string {
  const hash = args.trim();
  if (hash === "") return `Print the name a Hypermap namehash stands for.\n${USAGE}`;
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hash)) {
    return `'${hash}' is not a namehash (32 bytes as hex, e.g. 0x1b2c...)\n${USAGE}`;
  }
  const answer = ask(
    our.split("@")[0],
    "hns-indexer:hns-indexer:sys",
    enc.encode(JSON.stringify({ NamehashToName: { hash, block: 0 } })),
    10,
  );
  if (!("body" in answer)) return "Failed to get response from hns-indexer";
  let name: unknown;
  try {
    const r = JSON.parse(dec.decode(answer.body));
    if (!r || typeof r !== "object" || !("Name" in r)) throw new Error();
    name = r.Name;
  } catch {
    return "Got malformed response from hns-indexer";
  }
  return typeof name === "string" ? name : `no name found for namehash ${hash}`;
}
