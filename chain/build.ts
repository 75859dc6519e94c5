// deno task chain:build: recompiles chain/contracts/ and rewrites chain/artifacts/*.json.
// With --check, writes nothing and exits 1 if any artifact differs from a fresh build.

import { ARTIFACTS_DIR, artifactText, compileContracts, type ContractName } from "./compile.ts";

const check = Deno.args.includes("--check");
const started = performance.now();
const artifacts = compileContracts();
let stale = 0;
Deno.mkdirSync(ARTIFACTS_DIR, { recursive: true });
for (const [name, artifact] of Object.entries(artifacts) as [ContractName, never][]) {
  const file = new URL(`${name}.json`, ARTIFACTS_DIR);
  const text = artifactText(artifact);
  let old: string | null = null;
  try {
    old = Deno.readTextFileSync(file);
  } catch {
    // not built yet
  }
  if (old === text) continue;
  stale++;
  if (check) {
    console.error(`chain/artifacts/${name}.json differs from a fresh build`);
  } else {
    Deno.writeTextFileSync(file, text);
    console.log(`wrote chain/artifacts/${name}.json`);
  }
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`${Object.keys(artifacts).length} contracts, ${stale} changed (${seconds} s)`);
if (check && stale > 0) Deno.exit(1);
