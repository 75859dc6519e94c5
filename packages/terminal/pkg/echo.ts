// echo:terminal:sys: prints its arguments.
import { script } from "./lib/script.ts";

export const init = script(main);

function main(_our: string, args: string): string {
  return args;
}
