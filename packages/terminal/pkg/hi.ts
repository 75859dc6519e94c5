// hi:terminal:sys: a text message to another node's terminal (its net prints it, answers "ack").
import { ask, enc, script } from "./lib/script.ts";

export const init = script(main);

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
