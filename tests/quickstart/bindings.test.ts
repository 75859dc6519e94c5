// kit/bindings.ts: componentize-js's import bindings made to free each call's lowered arguments.

import { assert, assertEquals } from "../assert.ts";
import { BOUND, callInFreshFrames, FREED, freeImportArguments } from "../../kit/bindings.ts";
import { buildFixture } from "../fixtures/build.ts";

const PROLOGUE =
  "let [$memory, $realloc, $dealloc, $import_x$send, $import_x$receive] = $bindings;";

/** Bindings shaped as componentize-js writes them: lower into memory, call, lift, free results. */
const BODY = `
function send(text, grow) {
  let area = $realloc(0, 0, 4, 8);
  let str = $realloc(0, 0, 1, text.length);
  if (grow) str = $realloc(str, text.length, 1, text.length * 2);
  const ret = $import_x$send(area, str);
  host.checkLive([area, str], "while the binding lifts the results");
  $dealloc(ret);
  return ret;
}
function receive() {
  const ret = $import_x$receive();
  $dealloc(ret);
}
return { send, receive };
`;

/** A linear memory's allocator: every pointer live until freed once. */
function fakeHost() {
  let next = 8;
  const live = new Set<number>();
  const host = {
    live,
    freed: 0,
    realloc(ptr: number, _old: number, _align: number, _size: number): number {
      if (ptr !== 0) {
        assert(live.delete(ptr), `realloc of ${ptr}, which is not live`);
      }
      live.add(next);
      return next++;
    },
    dealloc(ptr: number): void {
      assert(live.delete(ptr), `dealloc of ${ptr}, which is not live`);
      host.freed++;
    },
    checkLive(ptrs: number[], when: string): void {
      for (const p of ptrs) assert(live.has(p), `${p} freed ${when}`);
    },
    send(...ptrs: number[]): number {
      host.checkLive(ptrs, "during the call");
      return host.realloc(0, 0, 4, 16); // the host's results
    },
    receive(): number {
      return host.realloc(0, 0, 4, 16);
    },
  };
  return host;
}

function load(js: string, host: ReturnType<typeof fakeHost>) {
  const bindings = [
    {},
    host.realloc,
    host.dealloc,
    (...a: number[]) => host.send(...a),
    () => host.receive(),
  ];
  return new Function("$bindings", "host", js)(bindings, host) as {
    send(text: string, grow?: boolean): number;
    receive(): void;
  };
}

Deno.test("bindings: each import call's arguments are freed once, after its binding returns", () => {
  const fixed = freeImportArguments(`${PROLOGUE}\n${BODY}`, [""]);
  assert("js" in fixed, JSON.stringify(fixed));
  const host = fakeHost();
  const api = load(fixed.js, host);
  for (let i = 0; i < 1000; i++) {
    api.send("hello", i % 7 === 0);
    if (i % 3 === 1) api.receive();
  }
  // what is still allocated: the last call's two arguments, freed when the next call starts
  assertEquals(host.live.size, 2);
  api.receive();
  assertEquals(host.live.size, 0);

  // as componentize-js writes them, every call's arguments stay allocated
  const plain = fakeHost();
  const unfixed = load(`${PROLOGUE}\n${BODY}`, plain);
  for (let i = 0; i < 1000; i++) unfixed.send("hello");
  assertEquals(plain.live.size, 2000);
});

Deno.test("bindings: unchanged when an export returns a value; an unknown shape is reported", () => {
  const plain = `${PROLOGUE}\n${BODY}`;
  assertEquals(freeImportArguments(plain, ["", "*i32"]), { js: plain });
  const other = "let [$memory, $realloc, $dealloc, $send] = $bindings;\n" + BODY;
  assert("unknown" in freeImportArguments(other, [""]));
  const none = "let [$memory, $realloc, $dealloc] = $bindings;\n";
  assertEquals(freeImportArguments(none, [""]), { js: none });
});

Deno.test("bindings: the process API is handed over as bound functions", () => {
  const js = `${PROLOGUE}\nfunction send(x) { return x + 1; }\n` +
    "defineBuiltinModule('hyperware:process/standard@1.0.0', { send, version: 3 });\n";
  const fixed = callInFreshFrames(js);
  assert("js" in fixed, JSON.stringify(fixed));
  const defined: Record<string, Record<string, unknown>> = {};
  const capture = (name: string, api: Record<string, unknown>) => (defined[name] = api);
  new Function("$bindings", "capture", `let defineBuiltinModule = capture;\n${fixed.js}`)(
    [{}, () => 0, () => {}, () => 0, () => 0],
    capture,
  );
  const api = defined["hyperware:process/standard@1.0.0"];
  const send = api.send as (x: number) => number;
  assertEquals(send.name, "bound send");
  assertEquals(send(1), 2);
  assertEquals(api.version, 3);
  // bindings that define no module are left as they are
  assert("unknown" in callInFreshFrames(`${PROLOGUE}\n${BODY}`));
});

Deno.test("bindings: a component built by componentize-js and kit's wizer carries both changes", async () => {
  // found by the inserted code's comments: the tester's bindings' source stays in its snapshot
  const wasm = await buildFixture("tester");
  const has = (text: string) => {
    const marker = new TextEncoder().encode(text);
    outer: for (let i = 0; i + marker.length <= wasm.length; i++) {
      for (let j = 0; j < marker.length; j++) if (wasm[i + j] !== marker[j]) continue outer;
      return true;
    }
    return false;
  };
  assert(has(FREED), "the arguments are not freed");
  assert(has(BOUND), "the process API is not bound");
});
