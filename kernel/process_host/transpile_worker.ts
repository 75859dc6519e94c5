// jco's transpile of a component, off the kernel's thread: converting a 12 MB
// componentize-js component holds a thread for seconds, during which the kernel
// would route nothing. program.ts starts one of these per transpile and ends it
// after the answer.

import { addInterruptChecks } from "./interrupt.ts";

export interface TranspileRequest {
  bytes: Uint8Array;
  /**
   * Build it to share a Worker: glue that suspends the component (JSPI) on these imports
   * ("interface#function"), and interrupt checks on its core modules' loops (interrupt.ts)
   */
  suspending?: string[];
}

export type TranspileReply =
  | {
    ok: true;
    files: Record<string, Uint8Array>;
    imports: string[];
    exports: [string, string][];
  }
  | { ok: false; error: string };

type Jco = typeof import("@bytecodealliance/jco-transpile");

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<TranspileRequest>) => void) | null;
  postMessage(m: TranspileReply, transfer?: Transferable[]): void;
};

scope.onmessage = async (e) => {
  let reply: TranspileReply;
  const moved: Transferable[] = [];
  try {
    // imported here, not at the top: it reads the environment and loads a native addon
    const { transpileBytes } = await import("@bytecodealliance/jco-transpile") as Jco;
    const suspending = e.data.suspending;
    const options: Record<string, unknown> = {
      name: "component",
      instantiation: { tag: "async" },
      noTypescript: true,
      // ~45% less glue (1.0 -> 0.58 MB for a componentize-js component) for
      // every Worker to read and compile
      minify: true,
    };
    if (suspending) {
      options.asyncMode = "jspi";
      options.asyncImports = suspending;
      options.asyncExports = ["init"];
    }
    const result = await transpileBytes(
      e.data.bytes,
      options as Parameters<Jco["transpileBytes"]>[1],
    );
    const files: Record<string, Uint8Array> = {};
    for (let [name, data] of Object.entries(result.files)) {
      if (name === "component.js" || name.endsWith(".wasm")) {
        if (suspending && name.endsWith(".wasm")) data = addInterruptChecks(data);
        files[name] = data;
        if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
          moved.push(data.buffer as ArrayBuffer);
        }
      }
    }
    reply = {
      ok: true,
      files,
      imports: [...result.imports],
      exports: result.exports.map(([n, k]) => [n, String(k)] as [string, string]),
    };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  scope.postMessage(reply, moved);
};
