// A minimal hand-written process component: a few lines of WebAssembly (no
// interpreter, no allocator beyond a bump arena) that answers every request it
// receives with "pong". benches/rtt.ts times round trips to it, so the figure
// for componentize-js components splits into the runtime's cost (this one:
// jco's glue, the WASI shim, the host) and the guest's (StarlingMonkey, the
// JS bindings).
//
// Assembled with jco's bundled wasm-tools (parse, embed the WIT, component new).

import { componentEmbed, componentNew, parse } from "@bytecodealliance/jco-transpile/wasm-tools";

const WIT = new URL("../kernel/process_host/hyperware.wit", import.meta.url);

// Canonical ABI of the two imports used (hyperware.wit):
// - receive(retptr): result<tuple<address, message>, ...> written at retptr:
//   [0] result tag (0 = ok), [40] message tag (0 = request); strings and lists
//   it lowers are allocated through cabi_realloc;
// - send-response(response, option<lazy-load-blob>), flattened to 14 i32s:
//   inherit, body ptr, body len, metadata (tag, ptr, len), caps ptr, caps len,
//   blob (tag, mime tag, mime ptr, mime len, bytes ptr, bytes len).
const CORE_WAT = `
(module
  (import "hyperware:process/standard@1.0.0" "receive" (func $receive (param i32)))
  (import "hyperware:process/standard@1.0.0" "send-response"
    (func $send_response (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "pong")
  (global $heap (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    ;; bump: align up, take, grow the memory if needed; freed at the next receive
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap)
        (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))))
    (local.get $p))
  (func (export "init") (param i32 i32)
    (loop $next
      (global.set $heap (i32.const 4096))
      (call $receive (i32.const 1024))
      (if (i32.and (i32.eqz (i32.load8_u (i32.const 1024)))
                   (i32.eqz (i32.load8_u (i32.const 1064))))
        (then
          (call $send_response
            (i32.const 0) (i32.const 16) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0)
            (i32.const 8) (i32.const 0)
            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
      (br $next)))
)`;

/** The component's bytes (built in ~1 s). */
export async function buildEchoComponent(): Promise<Uint8Array> {
  const core = await parse(CORE_WAT);
  const embedded = await componentEmbed({
    binary: core,
    witSource: await Deno.readTextFile(WIT),
    world: "process-v1",
  });
  return await componentNew(embedded);
}

if (import.meta.main) {
  const out = Deno.args[0] ?? "echo.wasm";
  await Deno.writeFile(out, await buildEchoComponent());
  console.log(`wrote ${out}`);
}
