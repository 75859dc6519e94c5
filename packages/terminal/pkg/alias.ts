// alias:terminal:sys: sets or removes an alias, through the terminal's EditAlias API.
import { sendRequest } from "hyperware:process/standard@1.0.0";
import { enc, script } from "./lib/script.ts";

export const init = script(main);

const USAGE = "\x1b[1mUsage:\x1b[0m alias <alias_name> <process_id>";

function editAlias(our: string, alias: string, process: string | null) {
  sendRequest(
    {
      node: our.split("@")[0],
      process: { processName: "terminal", packageName: "terminal", publisherNode: "sys" },
    },
    {
      inherit: false,
      expectsResponse: undefined,
      body: enc.encode(JSON.stringify({ EditAlias: { alias, process } })),
      metadata: undefined,
      capabilities: [],
    },
    undefined,
    undefined,
  );
}

function main(our: string, args: string): string {
  if (args === "") return `Change alias for a process.\n${USAGE}`;
  const space = args.indexOf(" ");
  const alias = space < 0 ? args : args.slice(0, space);
  const process = space < 0 ? "" : args.slice(space + 1);
  if (alias === "") return `No alias given.\n${USAGE}`;
  if (process === "") editAlias(our, alias, null);
  else if (/^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-.]+$/.test(process)) editAlias(our, alias, process);
  else return `Invalid process ID.\n${USAGE}`;
  return "alias set";
}
