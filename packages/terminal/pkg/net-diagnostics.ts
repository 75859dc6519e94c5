// net-diagnostics:terminal:sys: net's own account of itself (NetAction::GetDiagnostics).
import { ask, script } from "./lib/script.ts";
import { netAction, netResponse } from "./lib/net.ts";

export const init = script(main);

function main(our: string, _args: string): string {
  const answer = ask(our.split("@")[0], "net:distro:sys", netAction("GetDiagnostics"), 60);
  if (!("body" in answer)) return "Failed to get diagnostics from networking module";
  const d = netResponse(answer.body, "Diagnostics");
  if (!d || typeof d.value !== "string") return "Got malformed response from networking module";
  return `\r\n${d.value}`;
}
