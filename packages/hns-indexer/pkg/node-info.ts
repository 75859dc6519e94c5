// node-info (a script of hns-indexer:sys): `node-info <name>` prints what hns-indexer knows of a
// node (IndexerRequest::NodeInfo), formatted as Rust's pretty Debug prints it.
import { sendAndAwaitResponse } from "hyperware:process/standard@1.0.0";
import { firstWord, script } from "./lib/script.ts";

const HNS = {
  node: "our",
  process: { processName: "hns-indexer", packageName: "hns-indexer", publisherNode: "sys" },
};

interface WitHnsUpdate {
  name: string;
  public_key: string;
  ips: string[];
  ports: [string, number][];
  routers: string[];
}

const pad = (depth: number) => "    ".repeat(depth);
const list = (items: string[], depth: number) =>
  items.length === 0
    ? "[]"
    : `[\n${items.map((i) => `${pad(depth + 1)}${i},\n`).join("")}${pad(depth)}]`;

/** Option<WitHnsUpdate> as `{:#?}` writes it. */
export function debugNodeInfo(u: WitHnsUpdate | null): string {
  if (!u) return "None";
  const s = JSON.stringify;
  const ports = u.ports.map(([p, n]) => `(\n${pad(4)}${s(p)},\n${pad(4)}${n},\n${pad(3)})`);
  const fields = [
    `name: ${s(u.name)}`,
    `public_key: ${s(u.public_key)}`,
    `ips: ${list(u.ips.map((ip) => s(ip)), 2)}`,
    `ports: ${list(ports, 2)}`,
    `routers: ${list(u.routers.map((r) => s(r)), 2)}`,
  ];
  return `Some(\n${pad(1)}WitHnsUpdate {\n${fields.map((f) => `${pad(2)}${f},\n`).join("")}${
    pad(1)
  }},\n)`;
}

function nodeInfo(name: string): string {
  try {
    const [, message] = sendAndAwaitResponse(HNS, {
      inherit: false,
      expectsResponse: 5n,
      body: new TextEncoder().encode(JSON.stringify({ NodeInfo: { name, block: 0 } })),
      metadata: undefined,
      capabilities: [],
    }, undefined);
    if (message.tag !== "response") return "node info: name not found";
    const v = JSON.parse(new TextDecoder().decode(message.val[0].body));
    if (v && typeof v === "object" && "NodeInfo" in v) {
      return `node info: ${debugNodeInfo(v.NodeInfo)}`;
    }
    return "node info: name not found";
  } catch (e) {
    const kind = (e as { payload?: { kind?: string } }).payload?.kind;
    return `node info: no answer from hns-indexer (${kind ?? String(e)})`;
  }
}

export const init = script((args) => nodeInfo(firstWord(args)));
