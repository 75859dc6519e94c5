// componentize-js's import bindings, changed in two ways before kit's wizer initializes them.
//
// componentize-js 0.23's generated bindings lower an import call's arguments (the parameter
// area, every string, every list) into linear memory from `$realloc`, and never free them: the
// engine keeps every such allocation on a list that only `post_call`, after an export returns,
// frees. A Hyperware process's `init` never returns, so the list grows by each call's
// allocations for the life of the process, and every `$dealloc` and every realloc of an existing
// pointer looks through the whole list: a component that has handled 24,000 messages spent 2x the
// time on each of them that it did at the start (benches/component_growth.ts, BENCHMARKS.md).
//
// The fix wraps, inside the bindings, `$realloc` (to note what is allocated) and every raw import
// (to free the previous call's arguments as the next call starts: by then the previous call's
// binding has lifted its results and returned, so nothing reads them). Freed by `$dealloc`, they
// leave the engine's list too, so `post_call` does not free them again.
//
// The functions the bindings give the process are also handed over bound (`callInFreshFrames`): the
// engine runs in Wasm, and its interpreter loop is one Wasm function that V8 first compiles with
// its baseline compiler and later optimizes. `init` never returns, so the interpreter frame it
// runs in keeps the baseline code for the process's life, and with it every JS function called
// from it, which the interpreter runs in that same frame. A bound function is not run in place:
// the engine calls it through C++, which enters the interpreter anew, with the optimized code once
// V8 has it (a round trip between two components: 12-16% less time, BENCHMARKS.md).

/** The comments the inserted code opens with; the bindings' source stays in the component. */
export const FREED =
  "hyperdeno kit: each import call's arguments freed when the next call starts (kit/bindings.ts)";
export const BOUND =
  "hyperdeno kit: the API as bound functions, each call in a fresh interpreter frame (kit/bindings.ts)";

/** The line componentize-js's bindings open with: the memory, realloc, dealloc, then the imports. */
const PROLOGUE = /^let \[\$memory, \$realloc, \$dealloc((?:, \$import_[\w$]+)*)\] = \$bindings;$/m;

/** The code inserted after the prologue; `imports` are the raw import variables' names. */
export function freeingPrologue(imports: string[]): string {
  return [
    `// ${FREED}`,
    "{",
    "  const realloc = $realloc, dealloc = $dealloc;",
    "  let lowered = [], previous = [];",
    "  $realloc = (ptr, oldLen, align, newLen) => {",
    "    const out = realloc(ptr, oldLen, align, newLen);",
    "    const at = ptr === 0 ? -1 : lowered.indexOf(ptr);",
    "    if (at >= 0) lowered[at] = out;",
    "    else lowered.push(out);",
    "    return out;",
    "  };",
    "  const freeing = (f) => function (...args) {",
    "    for (const ptr of previous) dealloc(ptr);",
    "    previous = lowered;",
    "    lowered = [];",
    "    return f.apply(this, args);",
    "  };",
    ...imports.map((name) => `  ${name} = freeing(${name});`),
    "}",
  ].join("\n");
}

/**
 * The bindings with the fix in. Unchanged when an export returns a value (the lowering of its
 * result must stay until `post_call`, and this cannot tell it from an import's arguments; no
 * Hyperware world has such an export); `unknown` when the text is not the shape this knows.
 * `exportResults` are the EXPORT<n>_RET values componentize-js gives the initializer.
 */
export function freeImportArguments(
  js: string,
  exportResults: string[],
): { js: string } | { unknown: string } {
  if (exportResults.some((r) => r !== "")) return { js };
  const m = PROLOGUE.exec(js);
  if (!m) return { unknown: "the bindings do not open as componentize-js 0.23's do" };
  const imports = m[1] ? m[1].slice(2).split(", ") : [];
  if (imports.length === 0) return { js };
  const at = m.index + m[0].length;
  return { js: `${js.slice(0, at)}\n${freeingPrologue(imports)}${js.slice(at)}` };
}

/** The code that makes `defineBuiltinModule` hand the process bound functions. */
export const BOUND_API = [
  `// ${BOUND}`,
  "{",
  "  const define = defineBuiltinModule;",
  "  defineBuiltinModule = (name, api) => {",
  "    const bound = {};",
  "    for (const [key, f] of Object.entries(api)) {",
  "      bound[key] = typeof f === 'function' ? f.bind(undefined) : f;",
  "    }",
  "    return define(name, bound);",
  "  };",
  "}",
].join("\n");

/**
 * The bindings with every function they give the process (through `defineBuiltinModule`) bound;
 * `unknown` when the text is not the shape this knows.
 */
export function callInFreshFrames(js: string): { js: string } | { unknown: string } {
  const m = PROLOGUE.exec(js);
  if (!m || !js.includes("\ndefineBuiltinModule(")) {
    return { unknown: "the bindings do not define their modules as componentize-js 0.23's do" };
  }
  const at = m.index + m[0].length;
  return { js: `${js.slice(0, at)}\n${BOUND_API}${js.slice(at)}` };
}
