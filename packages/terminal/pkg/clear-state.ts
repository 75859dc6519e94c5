// clear-state:terminal:sys: deletes a process's saved state (state:distro:sys DeleteState).
import { ask, enc, script } from "./lib/script.ts";

export const init = script(main);

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
