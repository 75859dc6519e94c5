// namehash-to-name:terminal:sys: the Hypermap name of a namehash, as hns-indexer knows it
// (its NamehashToName request). Hyperdrive lists this script in scripts.json but ships no
// code for it; this one asks the indexer, which now holds the names.
import { ask, dec, enc, script } from "./lib/script.ts";

export const init = script(main);

const USAGE = "\x1b[1mUsage:\x1b[0m namehash-to-name <namehash>";

function main(our: string, args: string): string {
  const hash = args.trim();
  if (hash === "") return `Print the name a Hypermap namehash stands for.\n${USAGE}`;
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hash)) {
    return `'${hash}' is not a namehash (32 bytes as hex, e.g. 0x1b2c...)\n${USAGE}`;
  }
  const answer = ask(
    our.split("@")[0],
    "hns-indexer:hns-indexer:sys",
    enc.encode(JSON.stringify({ NamehashToName: { hash, block: 0 } })),
    10,
  );
  if (!("body" in answer)) return "Failed to get response from hns-indexer";
  let name: unknown;
  try {
    const r = JSON.parse(dec.decode(answer.body));
    if (!r || typeof r !== "object" || !("Name" in r)) throw new Error();
    name = r.Name;
  } catch {
    return "Got malformed response from hns-indexer";
  }
  return typeof name === "string" ? name : `no name found for namehash ${hash}`;
}
