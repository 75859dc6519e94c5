// Interrupt checks added to core Wasm modules (kernel/process_host/interrupt.ts): the module
// computes what it did, calls the interrupt import as often as its loops run down the budget,
// keeps every function reference right after the renumbering, and a stuck loop ends when the
// import throws; on a hand-written module and on the tester component's own core modules.

import { assert, assertEquals, assertThrows } from "../assert.ts";
import { parse } from "@bytecodealliance/jco-transpile/wasm-tools";
import {
  addInterruptChecks,
  INTERRUPT_BUDGET,
  INTERRUPT_MODULE,
  INTERRUPT_NAME,
  InterruptUnsupported,
} from "../../kernel/process_host/interrupt.ts";
import { ProgramLoader } from "../../kernel/process_host/program.ts";
import { buildFixture } from "../fixtures/build.ts";
import { makeWasiImports } from "../../kernel/process_host/wasi.ts";

const WAT = `(module
  (type $unary (func (param i32) (result i32)))
  (import "env" "log" (func $log (param i32)))
  (import "env" "base" (global $base i32))
  (table 2 funcref)
  (elem (i32.const 0) $sum $spin)
  (elem declare func $double)
  (global $started (mut i32) (i32.const 0))
  (global $fn (ref $unary) (ref.func $double))
  (func $sum (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $out
      (loop $top
        (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (i32.add (local.get $acc) (global.get $base)))
  (func $spin (export "spin") (param i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "viaTable") (param i32) (result i32)
    (call_indirect (type $unary) (local.get 0) (i32.const 0)))
  (func (export "direct") (param i32) (result i32) (call $sum (local.get 0)))
  (func (export "doubled") (param i32) (result i32)
    (call_ref $unary (local.get 0) (global.get $fn)))
  (func (export "ref") (result funcref) (ref.func $double))
  (func $start (call $log (i32.const 7)) (global.set $started (i32.const 1)))
  (func (export "started") (result i32) (global.get $started))
  (start $start)
)`;

class Stop extends Error {}

async function instantiate(bytes: Uint8Array, interrupt: () => void) {
  const logged: number[] = [];
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, {
    env: { log: (x: number) => logged.push(x), base: new WebAssembly.Global({ value: "i32" }, 5) },
    [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: interrupt },
  });
  // deno-lint-ignore no-explicit-any
  return { exports: instance.exports as any, logged };
}

Deno.test("interrupt checks: a module computes the same, calls the import per budget, stops when it throws", async () => {
  const plain = await parse(WAT);
  const checked = addInterruptChecks(plain);
  assert(WebAssembly.validate(checked as Uint8Array<ArrayBuffer>));
  const imports = WebAssembly.Module.imports(
    new WebAssembly.Module(checked as Uint8Array<ArrayBuffer>),
  );
  assertEquals(imports.at(-1), {
    module: INTERRUPT_MODULE,
    name: INTERRUPT_NAME,
    kind: "function",
  });

  const before = await instantiate(plain, () => {});
  let calls = 0;
  const after = await instantiate(checked, () => void calls++);
  // the start function ran, and called the import below the new one
  assertEquals([after.exports.started(), after.logged], [1, [7]]);
  const n = 200_000;
  assertEquals(after.exports.sum(n), before.exports.sum(n));
  // the loop's top is reached n + 1 times: one call per budget run down
  assertEquals(calls, Math.floor((n + 1) / INTERRUPT_BUDGET));
  // every way of naming a function still reaches the right one
  assertEquals(after.exports.viaTable(10), 50);
  assertEquals(after.exports.direct(10), 50);
  assertEquals(after.exports.doubled(21), 42);
  assertEquals(after.exports.ref()(4), 8);

  let stopAt = calls + 3;
  const stuck = await instantiate(checked, () => {
    if (++calls >= stopAt) throw new Stop("stopped");
  });
  stopAt = calls + 3;
  const e = assertThrows(() => stuck.exports.spin(0), Stop);
  // the name section followed the renumbering: the stuck frame is still named
  assert(String(e.stack).includes("spin"), String(e.stack));
});

const WIDE_WAT = `(module
  (import "env" "mem" (memory 1 1 shared))
  (table $t 1 funcref)
  (tag $oops (param i32))
  (data $d "0123456789abcdef")
  (func $tail (param i32) (result i32) (return_call $id (local.get 0)))
  (func $id (param i32) (result i32) (local.get 0))
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $v v128) (local $acc i32)
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 16))
    (memory.copy (i32.const 16) (i32.const 0) (i32.const 16))
    (memory.fill (i32.const 32) (i32.const 7) (i32.const 4))
    (drop (table.grow $t (ref.null func) (i32.const 1)))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
    (local.set $v (v128.load8_lane 0 (i32.const 16) (local.get $v)))
    (drop (i32.atomic.rmw.add (i32.const 48) (i32.const 1)))
    (atomic.fence)
    (loop $l
      (local.set $acc (i32.add (local.get $acc)
        (i32.add (i32x4.extract_lane 1 (local.get $v)) (call $tail (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (block $caught (result i32)
      (try_table (catch $oops $caught)
        (throw $oops (local.get $acc)))
      (i32.const -1))
    (i32.add (i32.load8_u (i32.const 33)))
    (i32.add (i32.atomic.load (i32.const 48)))
    (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0))
    (i32.add)
    (i32.trunc_sat_f32_s (f32.const 1.5))
    (i32.add))
)`;

Deno.test("interrupt checks: SIMD, bulk memory, atomics, exceptions and tail calls decode and run the same", async () => {
  const plain = await parse(WIDE_WAT);
  const checked = addInterruptChecks(plain);
  const run = async (bytes: Uint8Array) => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    let calls = 0;
    const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, {
      env: { mem },
      [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: () => void calls++ },
    });
    const result = (instance.exports.run as (n: number) => number)(100_000);
    return { result, calls };
  };
  const before = await run(plain);
  const after = await run(checked);
  assertEquals(after.result, before.result);
  assertEquals(after.calls, Math.floor(100_000 / INTERRUPT_BUDGET));
});

Deno.test("interrupt checks: a module without the sections they extend gets them in order", async () => {
  // no types, imports, globals or exports of its own: only a start function that loops
  const bare = await parse(`(module (func $f (loop $l)) (start $f))`);
  const checked = addInterruptChecks(bare);
  let calls = 0;
  await WebAssembly.instantiate(checked as Uint8Array<ArrayBuffer>, {
    [INTERRUPT_MODULE]: { [INTERRUPT_NAME]: () => void calls++ },
  });
  assertEquals(calls, 0);
  const empty = addInterruptChecks(await parse("(module)"));
  assert(WebAssembly.validate(empty as Uint8Array<ArrayBuffer>));
});

Deno.test("interrupt checks: modules it cannot rewrite are refused, not broken", async () => {
  assertThrows(() => addInterruptChecks(new Uint8Array([1, 2, 3, 4])), InterruptUnsupported);
  const gc = await parse(`(module (type (struct (field i32))) (func (export "f")))`);
  assertThrows(() => addInterruptChecks(gc), InterruptUnsupported);
  const truncated = (await parse(WAT)).slice(0, 100);
  assertThrows(() => addInterruptChecks(truncated), InterruptUnsupported);
});

Deno.test("interrupt checks: the tester component answers with them and is stopped in its loop", async () => {
  const home = await Deno.makeTempDir({ prefix: "hd-interrupt-" });
  try {
    const program = await new ProgramLoader(home).load("tester.wasm", await buildFixture("tester"));
    if (program.kind !== "component" || !program.url) throw new Error("not a cached component");
    const dir = new URL(".", program.url).pathname;
    const core: Record<string, WebAssembly.Module> = {};
    for (const name of Object.keys(program.coreModules)) {
      core[name] = new WebAssembly.Module(
        addInterruptChecks(await Deno.readFile(`${dir}/${name}`)) as Uint8Array<ArrayBuffer>,
      );
    }
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const from = {
      node: "fake.dev",
      process: { processName: "asker", packageName: "t", publisherNode: "test.os" },
    };
    const request = (cmd: unknown) => [from, {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: 5n,
        body: enc.encode(JSON.stringify(cmd)),
        metadata: undefined,
        capabilities: [],
      },
    }];
    const inbox = [request({ op: "our" }), request({ op: "loop" })];
    const answers: string[] = [];
    let killing = false;
    let interrupts = 0;
    const none = () => {};
    const std = {
      printToTerminal: none,
      our: () => ({ ...from, process: { ...from.process, processName: "tester" } }),
      getOnExit: () => ({ tag: "none" }),
      setOnExit: none,
      getState: () => undefined,
      setState: none,
      clearState: none,
      spawn: none,
      saveCapabilities: none,
      dropCapabilities: none,
      ourCapabilities: () => [],
      hasBlob: () => false,
      getBlob: none,
      lastBlob: none,
      sendRequest: none,
      sendRequests: none,
      sendAndAwaitResponse: none,
      sendResponse: (r: { body: Uint8Array }) => void answers.push(dec.decode(r.body)),
      receive: () => {
        const next = inbox.shift();
        if (!next) throw new Stop("inbox empty");
        // killed once it has the command that spins
        killing = inbox.length === 0;
        return next;
      },
    };
    const glue = await import(program.url);
    const instance = await glue.instantiate(
      (name: string) => core[name],
      { ...makeWasiImports({ print: () => {} }), "hyperware:process/standard": std },
      (m: WebAssembly.Module, imports: WebAssembly.Imports) =>
        WebAssembly.instantiate(m, {
          ...imports,
          [INTERRUPT_MODULE]: {
            [INTERRUPT_NAME]: () => {
              interrupts++;
              if (killing) throw new Stop("killed");
            },
          },
        }),
    );
    const e = assertThrows(() => instance.init("fake.dev@tester:t:test.os"), Error);
    assertEquals(e.message, "killed");
    assertEquals(answers, [JSON.stringify({ our: "fake.dev@tester:t:test.os" })]);
    assert(interrupts > 0);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
