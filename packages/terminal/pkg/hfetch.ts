// hfetch:terminal:sys (alias kfetch): system information a la neofetch: our identity (net),
// eth's providers and subscriptions, and how many processes run (the kernel).
import { type Answer, ask, dec, enc, script } from "./lib/script.ts";
import { fields, identity, netAction, netResponse } from "./lib/net.ts";

export const init = script(main);

/** hyperdeno's version (node.ts VERSION), where Hyperdrive shows its Cargo.toml version. */
const VERSION = "0.1.0";

function json(a: Answer): unknown {
  if (!("body" in a)) return undefined;
  try {
    return JSON.parse(dec.decode(a.body));
  } catch {
    return null;
  }
}

function routingText(r: Record<string, unknown>): string {
  if ("Routers" in r) return `${Array.isArray(r.Routers) ? r.Routers.length : 0} routers`;
  const d = fields(r.Direct ?? r.Both, ["ip", "ports"]);
  const ports = d.ports && typeof d.ports === "object" ? Object.keys(d.ports).sort() : [];
  return `direct at ${d.ip} with ${ports.join(", ")}`;
}

function main(our: string, _args: string): string {
  const node = our.split("@")[0];
  const peer = ask(node, "net:distro:sys", netAction("GetPeer", node), 60);
  if (!("body" in peer)) return "failed to get response from net";
  const p = netResponse(peer.body, "Peer");
  const id = p && identity(p.value);
  if (!id) return "got malformed response from net";

  const eth = (body: string) => json(ask(node, "eth:distro:sys", enc.encode(body), 60));
  const providers = eth('"GetProviders"') as { Providers?: { chain_id?: unknown }[] } | null;
  if (providers === undefined) return "failed to get response from eth";
  if (!providers || !Array.isArray(providers.Providers)) return "failed to parse eth response";
  const state = eth('"GetState"') as {
    State?: { active_subscriptions?: Record<string, object>; outstanding_requests?: unknown[] };
  } | null;
  if (state === undefined) return "failed to get response from eth";
  const st = state?.State;
  if (
    !st || typeof st.active_subscriptions !== "object" || !Array.isArray(st.outstanding_requests)
  ) {
    return "failed to parse eth response";
  }
  const map = json(ask(node, "kernel:distro:sys", enc.encode('{"Debug":"ProcessMap"}'), 60)) as
    | { Debug?: { ProcessMap?: Record<string, unknown> } }
    | null;
  if (map === undefined) return "failed to get response from kernel";
  if (!map?.Debug?.ProcessMap) return "failed to parse kernel response";

  const chains = [...new Set(providers.Providers.map((c) => String(c.chain_id)))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const subs = Object.values(st.active_subscriptions ?? {}).reduce(
    (n, s) => n + Object.keys(s ?? {}).length,
    0,
  );
  return `
                 ${node}

   ▄█    █▄      Hyperware ${VERSION}
  ███    ███
  ███    ███     pubkey: ${id.networking_key}
 ▄███▄▄▄▄███▄▄   routing: ${routingText(id.routing)}
▀▀███▀▀▀▀███▀
  ███    ███     ${providers.Providers.length} eth providers for chain IDs ${chains.join(", ")}
  ███    ███     ${subs} active eth subscriptions
  ███    █▀      ${st.outstanding_requests.length} outstanding eth requests

                 ${Object.keys(map.Debug.ProcessMap).length} running processes
`;
}
