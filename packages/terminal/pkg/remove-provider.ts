// remove-provider:terminal:sys: removes a chain's provider from eth (RemoveProvider).
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

/** serde_json's Value: keys sorted (no preserve_order). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sorted(o[k])]));
  }
  return v;
}

/** serde_json::to_string_pretty. */
function pretty(v: unknown): string {
  return JSON.stringify(sorted(v), null, 2);
}

const USAGE = "Usage: remove-provider <chain_id> <provider_name_or_url>";

function main(our: string, args: string): string {
  if (args === "") return USAGE;
  const parts = args.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 2) return USAGE;
  if (!/^\+?[0-9]+$/.test(parts[0]) || BigInt(parts[0]) >= 2n ** 64n) {
    return `Invalid chain_id: '${parts[0]}'. Must be a number.`;
  }
  const chainId = BigInt(parts[0]).toString();
  const id = parts[1];
  const answer = ask(
    our.split("@")[0],
    "eth:distro:sys",
    enc.encode(`{"RemoveProvider": [${chainId}, "${id}"]}`),
    60,
  );
  if (!("body" in answer)) return "Failed to remove provider from eth module";
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(answer.body));
  } catch {
    return `Failed to parse response as JSON\nRaw response: ${dec.decode(answer.body)}`;
  }
  switch (json) {
    case "Ok":
      return `Successfully removed provider '${id}' from chain ${chainId}`;
    case "ProviderNotFound":
      return `Provider '${id}' not found on chain ${chainId} (may have already been removed)`;
    case "PermissionDenied":
      return "Permission denied: you don't have root capability for eth module";
  }
  return `Unexpected response: ${pretty(json)}`;
}
