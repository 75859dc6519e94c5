// Builds one component past the cache in a process of its own, so the test can give it
// another TMPDIR without changing the environment of the tests running beside it.
//   deno run -A tests/quickstart/build_component_child.ts <code file> <output file>
import { buildComponent } from "../../kit/component.ts";

const [codeFile, outFile] = Deno.args;
await Deno.writeFile(
  outFile,
  await buildComponent(await Deno.readTextFile(codeFile), { cache: false }),
);
