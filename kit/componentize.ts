// componentize-js called in one typed place: kit's build, the SDK's, the test fixtures and the
// growth bench all build JS into a hyperware:process@1.0.0 component (world process-v1).

import { componentize } from "@bytecodealliance/componentize-js";

export interface ProcessComponentOptions {
  /** WASI features StarlingMonkey leaves out (default: http and fetch-event). */
  disableFeatures?: string[];
  /** The `wizer` componentize-js runs (default: its own; kit's is kit/wizer_bin.ts). */
  wizerBin?: string;
}

/** `source` (a JS module) built into a component of world process-v1 in `witWorld` (WIT text). */
export async function componentizeProcess(
  source: string,
  witWorld: string,
  opts: ProcessComponentOptions = {},
): Promise<Uint8Array> {
  // the (source, witWorld, opts) form: its declared types name the witPath form, which
  // fails on path access here
  const build = componentize as unknown as (
    source: string,
    witWorld: string,
    opts: { worldName: string; disableFeatures: string[]; wizerBin?: string },
  ) => Promise<{ component: Uint8Array }>;
  const { component } = await build(source, witWorld, {
    worldName: "process-v1",
    disableFeatures: opts.disableFeatures ?? ["http", "fetch-event"],
    ...(opts.wizerBin ? { wizerBin: opts.wizerBin } : {}),
  });
  return component;
}
