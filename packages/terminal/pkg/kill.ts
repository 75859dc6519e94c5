// kill:terminal:sys: ends a process now (KernelCommand KillProcess), bypassing its on-exit.
// Beyond Hyperdrive: a process that is not running is said so at once (the kernel does
// not answer a kill of nothing, so Hyperdrive's kill waits out its 60 s).
import { ask, dec, enc, script } from "./lib/script.ts";

export const init = script(main);

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
