// tester:tester:sys, hyperdeno's own tester (Hyperdrive's packages/tester does the same job):
// what kit's run-tests drives. At start it creates the /tester:sys/setup and /tester:sys/tests
// drives and lets http-server (kit's RPC) write them. A Run request
//   {"Run": {"input_node_names": [...], "test_names": [...], "test_timeout": n}}
// is answered {"Run": {"Ok": null}} at once on every node but the first; there, each test
// /tester:sys/tests/<name>.wasm is spawned (with the capabilities tests/capabilities.json gives
// it, and ours) and sent the same Run, and the first failure, {"Run": {"Err": {...}}}, or Ok is
// the answer.
import {
  getBlob,
  our,
  ourCapabilities,
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendRequest,
  sendResponse,
  spawn,
} from "hyperware:process/standard@1.0.0";

interface ProcessId {
  processName: string;
  packageName: string;
  publisherNode: string;
}
interface Address {
  node: string;
  process: ProcessId;
}
interface Capability {
  issuer: Address;
  params: string;
}
interface Fail {
  test: string;
  file: string;
  line: number;
  column: number;
}
type Answer = { Ok: null } | { Err: Fail };

const enc = new TextEncoder();
const dec = new TextDecoder();
const SETUP = "/tester:sys/setup";
const TESTS = "/tester:sys/tests";

function pid(s: string): ProcessId {
  const [processName, packageName, publisherNode, ...rest] = s.split(":");
  if (!processName || !packageName || !publisherNode || rest.length) {
    throw new Error(`not a process id: ${s}`);
  }
  return { processName, packageName, publisherNode };
}

function request(body: unknown, timeout?: number) {
  return {
    inherit: false,
    expectsResponse: timeout === undefined ? undefined : BigInt(timeout),
    body: body instanceof Uint8Array ? body : enc.encode(JSON.stringify(body)),
    metadata: undefined,
    capabilities: [],
  };
}

function respond(body: unknown) {
  sendResponse({
    inherit: false,
    body: enc.encode(JSON.stringify(body)),
    metadata: undefined,
    capabilities: [],
  }, undefined);
}

function fail(test: string, why: string): { Err: Fail } {
  printToTerminal(0, `tester: ${test}: ${why}`);
  return { Err: { test, file: "tester.ts", line: 0, column: 0 } };
}

/** A vfs request's answer (and blob). */
function vfs(node: string, path: string, action: string, timeout = 5) {
  const [, message] = sendAndAwaitResponse(
    { node, process: pid("vfs:distro:sys") },
    request({ path, action }, timeout),
    undefined,
  ) as [Address, { tag: string; val: [{ body: Uint8Array }] }];
  if (message.tag !== "response") throw new Error("vfs answered with a request");
  const answer = JSON.parse(dec.decode(message.val[0].body));
  if (answer && typeof answer === "object" && "Err" in answer) {
    throw new Error(`vfs ${action} ${path}: ${JSON.stringify(answer.Err)}`);
  }
  return { answer, blob: getBlob() as { bytes: Uint8Array } | undefined };
}

function setup(me: Address) {
  for (const drive of [SETUP, TESTS]) {
    vfs(me.node, drive, "CreateDrive");
    // kit writes test files through the RPC endpoint: http-server may write the drive
    const grant = {
      GrantCapabilities: {
        target: "http-server:distro:sys",
        capabilities: [{
          issuer: `${me.node}@vfs:distro:sys`,
          params: JSON.stringify({ drive, kind: "write" }),
        }],
      },
    };
    sendRequest(
      { node: me.node, process: pid("kernel:distro:sys") },
      request(grant),
      undefined,
      undefined,
    );
  }
}

function run(me: Address, body: Uint8Array): Answer {
  const runRequest = JSON.parse(dec.decode(body))?.Run;
  const names: string[] = runRequest?.input_node_names ?? [];
  const tests: string[] = runRequest?.test_names ?? [];
  const timeout: number = runRequest?.test_timeout ?? 15;
  if (!Array.isArray(names) || names.length < 1 || !Array.isArray(tests)) {
    return fail("tester", 'expected {"Run": {input_node_names, test_names, test_timeout}}');
  }
  printToTerminal(0, "got Run");
  if (me.node !== names[0]) return { Ok: null };
  const entries = (vfs(me.node, TESTS, "ReadDir", timeout).answer?.ReadDir ?? []) as {
    path: string;
    file_type: string;
  }[];
  const files = new Set(entries.map((e) => `/${e.path.replace(/^\/+/, "")}`));
  for (const name of tests) {
    if (!files.has(`${TESTS}/${name}.wasm`)) {
      return fail("tester", `test ${name} not found amongst ${[...files].join(", ")}`);
    }
  }
  let caps: Record<string, { request_capabilities?: unknown[]; grant_capabilities?: unknown[] }> =
    {};
  if (files.has(`${TESTS}/capabilities.json`)) {
    const { blob } = vfs(me.node, `${TESTS}/capabilities.json`, "Read", timeout);
    caps = blob ? JSON.parse(dec.decode(blob.bytes)) : {};
  }
  printToTerminal(0, `tester: running ${tests.join(", ")}...`);
  for (const name of tests) {
    const wanted = caps[name] ?? {};
    const requestCaps: Capability[] = [];
    for (const c of wanted.request_capabilities ?? []) {
      if (typeof c === "string") {
        requestCaps.push({ issuer: { node: me.node, process: pid(c) }, params: '"messaging"' });
      } else {
        const cap = c as { issuer: string; params: string };
        const [node, process] = cap.issuer.split("@");
        requestCaps.push({ issuer: { node, process: pid(process) }, params: cap.params });
      }
    }
    const grantCaps: [ProcessId, string][] = [];
    for (const c of wanted.grant_capabilities ?? []) {
      if (typeof c === "string") grantCaps.push([pid(c), '"messaging"']);
      else {
        const [p, params] = c as [string, string];
        grantCaps.push([pid(p), params]);
      }
    }
    requestCaps.push(...(ourCapabilities() as Capability[]));
    let child: ProcessId;
    try {
      child = spawn(
        undefined,
        `${TESTS}/${name}.wasm`,
        { tag: "none" },
        requestCaps,
        grantCaps,
        false,
      ) as ProcessId;
    } catch (e) {
      return fail("tester", `couldn't spawn ${TESTS}/${name}.wasm: ${JSON.stringify(e)}`);
    }
    let answer: { Run?: Answer };
    try {
      const [, message] = sendAndAwaitResponse(
        { node: me.node, process: child },
        request(body, timeout),
        undefined,
      ) as [Address, { tag: string; val: [{ body: Uint8Array }] }];
      if (message.tag !== "response") return fail("tester", `${name} answered with a request`);
      answer = JSON.parse(dec.decode(message.val[0].body));
    } catch (e) {
      return fail(name, `no answer within ${timeout} s (${JSON.stringify(e)})`);
    }
    if (!answer?.Run || !("Ok" in answer.Run)) {
      return answer?.Run && "Err" in answer.Run
        ? answer.Run
        : fail("tester", `${name} answered ${JSON.stringify(answer)}`);
    }
  }
  printToTerminal(0, `test_runner: done running ${tests.join(", ")}`);
  return { Ok: null };
}

export function init(_our: string): void {
  const me = our() as Address;
  try {
    setup(me);
  } catch (e) {
    printToTerminal(0, `tester: setup failed: ${e}`);
    return;
  }
  for (;;) {
    let message: { tag: string; val: { body: Uint8Array } };
    try {
      [, message] = receive() as [Address, typeof message];
    } catch {
      continue; // a send error for a request we did not await
    }
    if (message.tag !== "request") continue;
    let answer: Answer;
    try {
      answer = run(me, message.val.body);
    } catch (e) {
      answer = fail("tester", `error: ${e}`);
    }
    respond({ Run: answer });
  }
}
