// add-rpcurl-provider:terminal:sys: adds an RPC URL as a chain's provider to eth (AddProvider).
import { ask, dec, enc, pretty, script } from "./lib/script.ts";

export const init = script(main);

const USAGE =
  "Usage: add-rpcurl-provider <rpc-url> [--chain-id <id>] [--trusted <true|false>] [--auth-type <basic|bearer|raw> --auth-value <value>]\n  Examples:\n    add-rpcurl-provider wss://base-mainnet.infura.io/v3/your-key (defaults to chain-id=8453, trusted=true)\n    add-rpcurl-provider wss://mainnet.infura.io/v3/your-key --chain-id 1\n    add-rpcurl-provider wss://base-mainnet.infura.io/ws/v3/your-key --trusted false\n    add-rpcurl-provider wss://base-mainnet.infura.io/ws/v3/your-key --auth-type bearer --auth-value your-token\n    add-rpcurl-provider wss://rpc.example.com --chain-id 1 --trusted true --auth-type basic --auth-value username:password";

/** The value after `flag`, if `read` accepts it, else `fallback` (as the script's parse_flag_*). */
function flag<T>(args: string[], name: string, read: (s: string) => T | undefined, fallback: T): T {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) return fallback;
  return read(args[i + 1]) ?? fallback;
}

function authOf(args: string[]): { auth?: Record<string, string> } | string {
  let type: string | undefined, value: string | undefined;
  for (let i = 0; i < args.length;) {
    switch (args[i]) {
      case "--auth-type":
        if (i + 1 >= args.length) return "Missing value for --auth-type";
        type = args[i + 1];
        i += 2;
        break;
      case "--auth-value":
        if (i + 1 >= args.length) return "Missing value for --auth-value";
        value = args[i + 1];
        i += 2;
        break;
      case "--chain-id":
      case "--trusted":
        i += 2;
        break;
      default:
        i += 1;
    }
  }
  if (type !== undefined && value !== undefined) {
    const kind = ({ basic: "Basic", bearer: "Bearer", raw: "Raw" } as Record<string, string>)[
      type.toLowerCase()
    ];
    if (!kind) return "Invalid auth type. Must be 'basic', 'bearer', or 'raw'";
    return { auth: { [kind]: value } };
  }
  if (type !== undefined) return "--auth-type specified but --auth-value is missing";
  if (value !== undefined) return "--auth-value specified but --auth-type is missing";
  return {};
}

function main(our: string, args: string): string {
  const parts = args.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0) return USAGE;
  const url = parts[0];
  if (!/^(https?|wss?):\/\//.test(url)) {
    return "Error: URL must start with http://, https://, ws://, or wss://";
  }
  const rest = parts.slice(1);
  const chainId = flag(
    rest,
    "--chain-id",
    (s) => /^\+?[0-9]+$/.test(s) && BigInt(s) < 2n ** 64n ? Number(BigInt(s)) : undefined,
    8453,
  );
  const trusted = flag(
    rest,
    "--trusted",
    (s) => s === "true" ? true : s === "false" ? false : undefined,
    true,
  );
  const auth = authOf(rest);
  if (typeof auth === "string") return auth;
  const rpc: Record<string, unknown> = { url };
  if (auth.auth) rpc.auth = auth.auth;
  const body = { AddProvider: { chain_id: chainId, provider: { RpcUrl: rpc }, trusted } };
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
      return `Successfully added RPC URL provider: ${url} on chain ${chainId}${
        auth.auth ? " with authentication" : ""
      }`;
    }
    if (json === "PermissionDenied") return "Permission denied: insufficient privileges";
    return `Error: ${json}`;
  }
  return `Unexpected response: ${pretty(json)}`;
}
