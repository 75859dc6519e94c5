// `deno task inject-message <PROCESS> <BODY_JSON>`: kit inject-message. The body goes to the
// process as is (kit does not re-encode it), from the node's http-server, through kit's RPC
// endpoint; the answer is printed as kit prints it.

import { type Parsed, portValue, userPath, type VerbSpec } from "./args.ts";
import { makeMessage, nodeUrl, parseResponse, sendRequest, showAnswer, statusText } from "./rpc.ts";

export const INJECT_MESSAGE: VerbSpec = {
  name: "inject-message",
  alias: "i",
  about: "Inject a message to a running node",
  args: [
    { name: "PROCESS", positional: true, required: true, help: "PROCESS to send message to" },
    { name: "BODY_JSON", positional: true, required: true, help: "Body in JSON format" },
    {
      name: "port",
      long: "port",
      short: "p",
      default: "8080",
      help: "localhost node port",
    },
    { name: "node", long: "node", short: "n", help: "Node ID [default: our]" },
    {
      name: "blob",
      long: "blob",
      short: "b",
      value: "PATH",
      help: "Send file at Unix path as bytes blob",
    },
    {
      name: "non-block",
      long: "non-block",
      short: "l",
      flag: true,
      help: "If set, don't block on the full node response",
    },
  ],
};

export interface InjectOptions {
  url: string;
  process: string;
  body: string;
  node?: string;
  /** The blob's file. */
  blobPath?: string;
  /** kit's --non-block: expects_response None. */
  nonBlock?: boolean;
}

/** kit inject-message; resolves with what kit prints. */
export async function injectMessage(o: InjectOptions): Promise<string> {
  const blob = o.blobPath === undefined ? null : await Deno.readFile(o.blobPath);
  const message = makeMessage(o.process, o.nonBlock ? null : 15, o.body, o.node ?? null, blob);
  const res = await sendRequest(o.url, message);
  if (!o.nonBlock) return showAnswer(await parseResponse(res));
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`Failed with status code: ${statusText(res)}`);
  return statusText(res);
}

export async function runInjectMessage(args: Parsed): Promise<void> {
  const v = args.values;
  console.log(
    await injectMessage({
      url: nodeUrl(portValue("port", v.port as string)),
      process: v.PROCESS as string,
      body: v.BODY_JSON as string,
      node: v.node as string | undefined,
      blobPath: v.blob === undefined ? undefined : userPath(v.blob as string),
      nonBlock: v["non-block"] as boolean,
    }),
  );
}
