// m:terminal:sys: sends a request to any process, and with -a prints its answer.
// Arguments as Hyperdrive's (clap): <target> <body> [-a|--await <secs>] in any order, a
// single-quoted body may hold spaces, `our` is this node. Beyond Hyperdrive, a body that is
// not JSON is refused with the reason (processes read JSON; Hyperdrive sends it anyway).
import {
  ourCapabilities,
  printToTerminal,
  sendAndAwaitResponse,
} from "hyperware:process/standard@1.0.0";
import { dec, enc, script } from "./lib/script.ts";

export const init = script(main);

const USAGE = "\x1b[1mUsage:\x1b[0m m <target> <body> [-a <await_time>]";

interface Parsed {
  target: string;
  body: string;
  await?: number;
}

/** clap's reading of `m <target> <body> [-a <u64>]`; undefined where clap fails. */
function parse(tokens: string[]): Parsed | undefined {
  const positional: string[] = [];
  let wait: number | undefined;
  const u64 = (s: string | undefined) =>
    s !== undefined && /^\+?[0-9]+$/.test(s) && BigInt(s) < 2n ** 64n ? Number(s) : undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    let value: string | undefined;
    if (t === "-a" || t === "--await") value = tokens[++i];
    else if (t.startsWith("--await=")) value = t.slice(8);
    else if (t.startsWith("-a")) value = t.slice(2).replace(/^=/, "");
    else if (t.startsWith("-") && t !== "-") return undefined; // an unknown flag
    else {
      positional.push(t);
      continue;
    }
    if (wait !== undefined) return undefined; // given twice
    wait = u64(value);
    if (wait === undefined) return undefined;
  }
  if (positional.length !== 2) return undefined;
  return { target: positional[0], body: positional[1], await: wait };
}

function main(our: string, args: string): string {
  if (args === "") return `Send a request to a process.\n${USAGE}`;
  const tokens = (args.match(/'[^']*'|\S+/g) ?? []).map((t) =>
    t.length >= 2 && t.startsWith("'") && t.endsWith("'") ? t.slice(1, -1) : t
  );
  const parsed = parse(tokens);
  if (!parsed) return `Failed to parse args.\n${USAGE}`;
  const at = parsed.target.split("@");
  const segments = at.length === 2 ? at[1].split(":") : [];
  if (at.length !== 2 || at[0] === "" || segments.length !== 3 || segments.some((s) => !s)) {
    return `Invalid address: "${parsed.target}"\n${USAGE}`;
  }
  try {
    JSON.parse(parsed.body);
  } catch (e) {
    return `m: the body is not JSON: ${
      (e as Error).message
    }; quote JSON with spaces: '{"foo": "bar"}'`;
  }
  const node = at[0] === "our" ? our.split("@")[0] : at[0];
  const target = {
    node,
    process: { processName: segments[0], packageName: segments[1], publisherNode: segments[2] },
  };
  // process_lib's try_attach_all: every capability we hold that the target issued
  const issued = `${node}@${segments.join(":")}`;
  const capabilities = (ourCapabilities() as {
    issuer: {
      node: string;
      process: { processName: string; packageName: string; publisherNode: string };
    };
    params: string;
  }[]).filter((c) => {
    const p = c.issuer.process;
    return `${c.issuer.node}@${p.processName}:${p.packageName}:${p.publisherNode}` === issued;
  });
  const send = (timeoutS: number) =>
    sendAndAwaitResponse(target, {
      inherit: false,
      expectsResponse: BigInt(timeoutS),
      body: enc.encode(parsed.body),
      metadata: undefined,
      capabilities,
    }, undefined);
  if (parsed.await === undefined) {
    // still waits for the answer (so its capability checks pass), but says nothing of it
    try {
      send(5);
    } catch { /* no answer */ }
    return "";
  }
  printToTerminal(0, `Awaiting response for ${parsed.await}s`);
  try {
    const [, m] = send(parsed.await);
    return m.tag === "response" ? dec.decode(m.val[0].body) : "";
  } catch (e) {
    return (e as { payload?: { kind?: string } })?.payload?.kind === "offline"
      ? "Failed to send message because the target is offline"
      : "Target did not send response in time, try increasing the await time";
  }
}
