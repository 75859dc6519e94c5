// peer:terminal:sys: a node's PKI entry, as net knows it (NetAction::GetPeer).
import { ask, script } from "./lib/script.ts";
import { debugRouting, identity, netAction, netResponse } from "./lib/net.ts";

export const init = script(main);

function main(our: string, args: string): string {
  const answer = ask(our.split("@")[0], "net:distro:sys", netAction("GetPeer", args), 10);
  if (!("body" in answer)) return "Failed to get response from networking module";
  const peer = netResponse(answer.body, "Peer");
  if (!peer) return "Got malformed response from networking module";
  if (peer.value === null) return `no PKI entry found with name ${args}`;
  const id = identity(peer.value);
  if (!id) return "Got malformed response from networking module";
  return `peer identity for ${id.name}:\n    networking key: ${id.networking_key}\n    routing: ${
    debugRouting(id.routing)
  }`;
}
