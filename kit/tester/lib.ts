// What a test process imports (`hyperdeno/tester`): kit's tester protocol (tester:sys's
// api, Hyperdrive's packages/tester) and helpers, as kit's tester_lib.rs gives Rust tests.
//
// The tester spawns each test process and sends it
//   {"Run": {"input_node_names": [...], "test_names": [...], "test_timeout": n}}
// which it answers with {"Run": {"Ok": null}} or
//   {"Run": {"Err": {"test": .., "file": .., "line": n, "column": n}}}.
import { type Address, dec, parseAddress, request, response, std } from "hyperdeno/sdk/std";

const enc = new TextEncoder();

/** A Run request's fields. */
export interface RunRequest {
  input_node_names: string[];
  test_names: string[];
  test_timeout: number;
}

/** What a test gets: its node, the test nodes (the first one runs the tests), the timeout. */
export interface TestContext {
  our: Address;
  nodes: string[];
  timeout: number;
}

/** A failed test: its answer is a FailResponse. */
export class TestFailure extends Error {
  constructor(readonly test: string, message: string, readonly line = 0, readonly column = 0) {
    super(message);
  }
}

/** Fails the test `test` (kit's fail! macro). */
export function fail(test: string, message = "failed"): never {
  throw new TestFailure(test, message);
}

/** Sends `body` as JSON to `target` ("node@process:package:publisher") and parses the answer. */
export function call(target: string, body: unknown, timeout = 15): unknown {
  const [, answer] = std.sendAndAwaitResponse(
    parseAddress(target),
    request(body, timeout),
    undefined,
  );
  if (answer.tag !== "response") throw new Error(`${target} answered with a request`);
  return JSON.parse(dec.decode(answer.val[0].body));
}

/** Deep equality of JSON values. */
export function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function answer(body: unknown): void {
  std.sendResponse(response(enc.encode(JSON.stringify(body))), undefined);
}

/**
 * The test process's loop: each Run from this node runs `test` (on the first test node only,
 * unless `everyNode`) and answers Ok, or the failure.
 */
export function serveTests(
  name: string,
  test: (cx: TestContext) => void,
  opts: { everyNode?: boolean } = {},
): void {
  const our = std.our();
  std.printToTerminal(0, "begin");
  for (;;) {
    let source: Address;
    let body: Uint8Array;
    try {
      const [src, message] = std.receive();
      if (message.tag !== "request") continue;
      source = src;
      body = message.val.body;
    } catch {
      continue;
    }
    if (source.node !== our.node) {
      std.printToTerminal(0, `${name}: rejecting foreign message from ${source.node}`);
      continue;
    }
    try {
      const run = (JSON.parse(dec.decode(body)) as { Run?: RunRequest }).Run;
      if (!run) throw new TestFailure(name, 'expected {"Run": ...}');
      if (opts.everyNode || our.node === run.input_node_names[0]) {
        test({ our, nodes: run.input_node_names, timeout: run.test_timeout });
      }
      answer({ Run: { Ok: null } });
    } catch (e) {
      const f = e instanceof TestFailure ? e : new TestFailure(name, String(e));
      std.printToTerminal(0, `${name}: FAIL: ${f.message}`);
      answer({
        Run: { Err: { test: f.test, file: "src/lib.ts", line: f.line, column: f.column } },
      });
    }
  }
}
