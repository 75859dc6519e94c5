// peers:terminal:sys: the peers net holds connections with (NetAction::GetPeers).
import { ask, script } from "./lib/script.ts";
import { debugRouting, identity, netAction, netResponse } from "./lib/net.ts";

export const init = script(main);

function main(our: string, _args: string): string {
  const answer = ask(our.split("@")[0], "net:distro:sys", netAction("GetPeers"), 10);
  if (!("body" in answer)) return "Failed to get peers from networking module";
  const peers = netResponse(answer.body, "Peers");
  if (!peers || !Array.isArray(peers.value)) return "Got malformed response from networking module";
  const ids = peers.value.map(identity);
  if (ids.some((id) => !id)) return "Got malformed response from networking module";
  const lines = ids.map((id) =>
    `${id!.name}:\n    networking key: ${id!.networking_key}\n    routing: ${
      debugRouting(id!.routing)
    }`
  ).join("\n");
  return `identities of current connected peers:\n${lines}`;
}
