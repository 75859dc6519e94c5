// cat:terminal:sys: prints a file of the vfs.
import { getBlob } from "hyperware:process/standard@1.0.0";
import { ask, dec, enc, script } from "./lib/script.ts";

export const init = script(main);

const USAGE = "\x1b[1mUsage:\x1b[0m cat <file_path>";

function main(our: string, args: string): string {
  if (args === "") return `Print the contents of a file to the terminal.\n${USAGE}`;
  const answer = ask(
    our.split("@")[0],
    "vfs:distro:sys",
    enc.encode(JSON.stringify({ path: args, action: "Read" })),
    5,
  );
  let ok = false;
  try {
    ok = "body" in answer && JSON.parse(dec.decode(answer.body)) === "Read";
  } catch { /* an error answer */ }
  const blob = ok ? getBlob() : undefined;
  if (!blob) return `failed to read file ${args} from VFS.\n${USAGE}`;
  return dec.decode(blob.bytes);
}
