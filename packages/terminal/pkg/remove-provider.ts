// remove-provider:terminal:sys: removes a chain's provider from eth (RemoveProvider).
import { ask, dec, enc, pretty, script } from "./lib/script.ts";

export const init = script(main);

const USAGE = "Usage: remove-provider <chain_id> <provider_name_or_url>";

function main(our: string, args: string): string {
  if (args === "") return USAGE;
  const parts = args.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length !== 2) return USAGE;
  if (!/^\+?[0-9]+$/.test(parts[0]) || BigInt(parts[0]) >= 2n ** 64n) {
    return `Invalid chain_id: '${parts[0]}'. Must be a number.`;
  }
  const chainId = BigInt(parts[0]).toString();
  const id = parts[1];
  const answer = ask(
    our.split("@")[0],
    "eth:distro:sys",
    enc.encode(`{"RemoveProvider": [${chainId}, "${id}"]}`),
    60,
  );
  if (!("body" in answer)) return "Failed to remove provider from eth module";
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(answer.body));
  } catch {
    return `Failed to parse response as JSON\nRaw response: ${dec.decode(answer.body)}`;
  }
  switch (json) {
    case "Ok":
      return `Successfully removed provider '${id}' from chain ${chainId}`;
    case "ProviderNotFound":
      return `Provider '${id}' not found on chain ${chainId} (may have already been removed)`;
    case "PermissionDenied":
      return "Permission denied: you don't have root capability for eth module";
  }
  return `Unexpected response: ${pretty(json)}`;
}
