// What terminal:sys's scripts share: process_lib's script! entry and one request with its
// answer. Scripts import this by relative path (the kernel resolves a module's imports
// from its own package: kernel/process_host/module_graph.ts).
import {
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendResponse,
} from "hyperware:process/standard@1.0.0";

export const enc = new TextEncoder();
export const dec = new TextDecoder(); // lossy, as String::from_utf8_lossy

/**
 * process_lib's script!: the first message carries the arguments; `main`'s answer goes
 * back as the response when one is expected, else it is printed; then `after` runs (a
 * script that goes on, as `top --watch`). Returns the process's init.
 */
export function script(
  main: (our: string, args: string) => string,
  after?: () => void,
): (our: string) => void {
  return (our) => {
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
    after?.();
  };
}

export type Answer = { body: Uint8Array } | { error: "timeout" | "offline" };

/** A request to `node`@`pid` and its answer, or why none came. */
export function ask(node: string, pid: string, body: Uint8Array, timeoutS: number): Answer {
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
export function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sorted(o[k])]));
  }
  return v;
}

/** serde_json::to_string_pretty. */
export function pretty(v: unknown): string {
  return JSON.stringify(sorted(v), null, 2);
}
