// add-node-provider:terminal:sys: adds another node as a chain's provider to eth (AddProvider).
import { ask, dec, enc, pretty, script } from "./lib/script.ts";

export const init = script(main);

const USAGE =
  "Usage: add-node-provider <chain-id> <node-name> <public-key> <ip-address> <ws-port> [--trusted <true|false>]\n  Examples:\n    add-node-provider 8453 other-node.hypr abc123pubkey 192.168.1.1 9000 (defaults to trusted=false)\n    add-node-provider 1 other-node.hypr abc123pubkey 192.168.1.1 9000 --trusted true";

/** The bool after `flag`, Rust's str::parse::<bool> ("true"/"false"), else `fallback`. */
function flagBool(args: string[], flag: string, fallback: boolean): boolean {
  const i = args.indexOf(flag);
  if (i < 0 || i + 1 >= args.length) return fallback;
  const v = args[i + 1];
  return v === "true" ? true : v === "false" ? false : fallback;
}

function main(our: string, args: string): string {
  const parts = args.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length < 5) return USAGE;
  if (!/^\+?[0-9]+$/.test(parts[0]) || BigInt(parts[0]) >= 2n ** 64n) {
    return `Invalid chain ID: ${parts[0]}. Must be a number.`;
  }
  const chainId = Number(BigInt(parts[0]));
  const [, name, publicKey, ip] = parts;
  if (!/^\+?[0-9]+$/.test(parts[4]) || Number(parts[4]) > 65535) {
    return `Invalid WebSocket port: ${parts[4]}. Must be a number.`;
  }
  const wsPort = Number(parts[4]);
  const trusted = flagBool(parts.slice(5), "--trusted", false);
  const body = {
    AddProvider: {
      chain_id: chainId,
      provider: {
        Node: {
          hns_update: {
            name,
            public_key: publicKey,
            ips: [ip],
            ports: { ws: wsPort },
            routers: [],
          },
          use_as_provider: true,
        },
      },
      trusted,
    },
  };
  const answer = ask(our.split("@")[0], "eth:distro:sys", enc.encode(JSON.stringify(body)), 60);
  if (!("body" in answer)) return "Failed to communicate with eth module";
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(answer.body));
  } catch {
    return `Failed to parse response as JSON\nRaw response: ${dec.decode(answer.body)}`;
  }
  if (typeof json === "string") {
    if (json === "Ok") {
      return `Successfully added node provider: ${name} (${ip}:${wsPort}) on chain ${chainId} with trusted=${trusted}`;
    }
    if (json === "PermissionDenied") return "Permission denied: insufficient privileges";
    return `Error: ${json}`;
  }
  return `Unexpected response: ${pretty(json)}`;
}
