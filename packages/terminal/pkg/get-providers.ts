// get-providers:terminal:sys: eth's providers (EthConfigAction GetProviders).
import { ask, dec, enc, pretty, script, sorted } from "./lib/script.ts";

export const init = script(main);

/** A serde_json::Value's Display (compact). */
function display(v: unknown): string {
  return JSON.stringify(sorted(v));
}

function main(our: string, _args: string): string {
  const answer = ask(our.split("@")[0], "eth:distro:sys", enc.encode('"GetProviders"'), 60);
  if (!("body" in answer)) return "Failed to get providers from eth module";
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(answer.body));
  } catch {
    return `Failed to parse as JSON\nRaw response: ${dec.decode(answer.body)}`;
  }
  const providers = json && typeof json === "object" && !Array.isArray(json)
    ? (json as Record<string, unknown>).Providers
    : undefined;
  if (Array.isArray(providers)) {
    if (providers.length === 0) return "No providers configured.";
    let out = `Found ${providers.length} provider(s):\n`;
    providers.forEach((p, i) => {
      out += `\n${i + 1}. `;
      const get = (o: unknown, k: string) =>
        o && typeof o === "object" && !Array.isArray(o) && k in o
          ? { v: (o as Record<string, unknown>)[k] }
          : undefined;
      const chain = get(p, "chain_id");
      if (chain) out += `Chain ID: ${display(chain.v)}\n`;
      const trusted = get(p, "trusted");
      if (trusted) out += `   Trusted: ${display(trusted.v)}\n`;
      const provider = get(p, "provider");
      if (!provider) return;
      const rpc = get(provider.v, "RpcUrl");
      const node = get(provider.v, "Node");
      if (rpc) {
        out += "   Type: RPC URL\n";
        const url = get(rpc.v, "url");
        if (url) out += `   URL: ${display(url.v)}\n`;
        const auth = get(rpc.v, "auth");
        if (auth && auth.v !== null) out += "   Auth: Configured\n";
      } else if (node) {
        out += "   Type: Node Provider\n";
        const hns = get(node.v, "hns_update");
        const name = hns && get(hns.v, "name");
        if (name) out += `   Node: ${display(name.v)}\n`;
        const use = get(node.v, "use_as_provider");
        if (use) out += `   Use as Provider: ${display(use.v)}\n`;
      }
    });
    return out;
  }
  return `Response (not Providers): ${pretty(json)}`;
}
