// KernelCommand and KernelResponse as serde JSON (wire/kernel.ts): every variant
// round-trips, the JSON is the text serde_json writes, malformed bodies fail with
// a reason naming the variant and field; and a booted node prints them, answers
// the ones Hyperdrive answers with their error response, and keeps running.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  encodeKernelCommand,
  encodeKernelResponse,
  type KernelCommand,
  KernelCommandError,
  type KernelResponse,
  parseKernelCommand,
  parseKernelResponse,
} from "../../wire/kernel.ts";
import { type OnExit, parseAddress, parseProcessId } from "../../wire/core.ts";
import { bootTestNode, withTempDir } from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const id = parseProcessId("chat:chat-app:pub.os");
const cap = { issuer: parseAddress("node.os@vfs:distro:sys"), params: '{"kind":"read"}' };
const onExitRequests: OnExit = {
  tag: "requests",
  val: [
    [
      parseAddress("node.os@b:chat-app:pub.os"),
      {
        inherit: false,
        expectsResponse: 30n,
        body: new Uint8Array([0, 127, 128, 255]),
        metadata: '{"m":1}',
        capabilities: [{ ...cap, signature: new Uint8Array([1, 2, 3]) }],
      },
      { mime: "text/plain", bytes: new Uint8Array([104, 105]) },
    ],
    [
      parseAddress("node.os@c:chat-app:pub.os"),
      {
        inherit: true,
        expectsResponse: undefined,
        body: new Uint8Array(),
        metadata: undefined,
        capabilities: [],
      },
      undefined,
    ],
  ],
};

const COMMANDS: KernelCommand[] = [
  { tag: "Booted" },
  { tag: "Shutdown" },
  {
    tag: "InitializeProcess",
    id,
    wasmBytesHandle: "/chat-app:pub.os/pkg/chat.wasm",
    witVersion: 1,
    onExit: { tag: "restart" },
    initialCapabilities: [cap],
    public: true,
  },
  {
    tag: "InitializeProcess",
    id,
    wasmBytesHandle: "",
    witVersion: undefined,
    onExit: onExitRequests,
    initialCapabilities: [],
    public: false,
  },
  { tag: "GrantCapabilities", target: id, capabilities: [cap, { ...cap, params: '"x"' }] },
  { tag: "DropCapabilities", target: id, capabilities: [] },
  { tag: "SetOnExit", target: id, onExit: { tag: "none" } },
  { tag: "SetOnExit", target: id, onExit: onExitRequests },
  { tag: "RunProcess", id },
  { tag: "KillProcess", id },
  { tag: "Debug", print: { tag: "ProcessMap" } },
  { tag: "Debug", print: { tag: "Process", id } },
  { tag: "Debug", print: { tag: "HasCap", on: id, cap } },
  { tag: "Debug", print: { tag: "Verbosity" } },
  { tag: "SetVerbosity", level: 3 },
];

Deno.test("KernelCommand: every variant round-trips through its serde JSON", () => {
  for (const c of COMMANDS) assertEquals(parseKernelCommand(encodeKernelCommand(c)), c);
});

Deno.test("KernelCommand: the JSON is serde's (externally tagged, snake_case, field order)", () => {
  const text = (c: KernelCommand) => dec.decode(encodeKernelCommand(c));
  assertEquals(text(COMMANDS[0]), '"Booted"');
  assertEquals(text({ tag: "RunProcess", id }), '{"RunProcess":"chat:chat-app:pub.os"}');
  assertEquals(
    text(COMMANDS[2]),
    '{"InitializeProcess":{"id":"chat:chat-app:pub.os",' +
      '"wasm_bytes_handle":"/chat-app:pub.os/pkg/chat.wasm","wit_version":1,' +
      '"on_exit":"Restart","initial_capabilities":[{"issuer":"node.os@vfs:distro:sys",' +
      '"params":"{\\"kind\\":\\"read\\"}"}],"public":true}}',
  );
  assertEquals(
    text({ tag: "Debug", print: { tag: "HasCap", on: id, cap } }),
    '{"Debug":{"HasCap":{"on":"chat:chat-app:pub.os","cap":{"issuer":"node.os@vfs:distro:sys",' +
      '"params":"{\\"kind\\":\\"read\\"}"}}}}',
  );
  // serde reads a unit variant written as a map with a null value, and absent Options as None
  assertEquals(parseKernelCommand(enc.encode('{"Shutdown":null}')), { tag: "Shutdown" });
  const noWit = parseKernelCommand(enc.encode(JSON.stringify({
    InitializeProcess: {
      id: "a:b:c",
      wasm_bytes_handle: "/x",
      on_exit: "None",
      initial_capabilities: [],
      public: false,
      extra_field: "ignored, as serde ignores unknown fields",
    },
  })));
  assert(noWit.tag === "InitializeProcess");
  assertEquals(noWit.witVersion, undefined);
});

Deno.test("KernelResponse: every variant round-trips; the JSON is serde's", () => {
  const proc = {
    wasmBytesHandle: "/chat-app:pub.os/pkg/chat.wasm",
    witVersion: 1,
    onExit: onExitRequests,
    capabilities: [cap],
    public: false,
  };
  const responses: KernelResponse[] = [
    { tag: "InitializedProcess" },
    { tag: "InitializeProcessError" },
    { tag: "StartedProcess" },
    { tag: "RunProcessError" },
    { tag: "KilledProcess", id },
    {
      tag: "Debug",
      print: { tag: "ProcessMap", processes: new Map([["chat:chat-app:pub.os", proc]]) },
    },
    { tag: "Debug", print: { tag: "Process", process: proc } },
    { tag: "Debug", print: { tag: "Process", process: undefined } },
    { tag: "Debug", print: { tag: "HasCap", has: true } },
    { tag: "Debug", print: { tag: "HasCap", has: undefined } },
  ];
  for (const r of responses) assertEquals(parseKernelResponse(encodeKernelResponse(r)), r);
  const text = (r: KernelResponse) => dec.decode(encodeKernelResponse(r));
  assertEquals(text({ tag: "RunProcessError" }), '"RunProcessError"');
  assertEquals(text({ tag: "KilledProcess", id }), '{"KilledProcess":"chat:chat-app:pub.os"}');
  assertEquals(
    text({ tag: "Debug", print: { tag: "HasCap", has: undefined } }),
    '{"Debug":{"HasCap":null}}',
  );
  assertEquals(
    text({
      tag: "Debug",
      print: { tag: "Process", process: { ...proc, onExit: { tag: "none" } } },
    }),
    '{"Debug":{"Process":{"wasm_bytes_handle":"/chat-app:pub.os/pkg/chat.wasm","wit_version":1,' +
      '"on_exit":"None","capabilities":[{"issuer":"node.os@vfs:distro:sys",' +
      '"params":"{\\"kind\\":\\"read\\"}"}],"public":false}}}',
  );
});

const init = (fields: Record<string, unknown>) => ({
  InitializeProcess: {
    id: "a:b:c",
    wasm_bytes_handle: "/x",
    wit_version: 1,
    on_exit: "None",
    initial_capabilities: [],
    public: false,
    ...fields,
  },
});

/** [body, the variant it meant, what the error must say] */
const MALFORMED: [Uint8Array | unknown, string | undefined, RegExp][] = [
  [enc.encode("{not json"), undefined, /^not JSON: /],
  [new Uint8Array([0x22, 0xff, 0x22]), undefined, /^not JSON: /],
  [42, undefined, /expected a KernelCommand variant, got 42/],
  [{ RunProcess: "a:b:c", KillProcess: "a:b:c" }, undefined, /expected a KernelCommand variant/],
  ["Frobnicate", undefined, /unknown variant "Frobnicate", expected one of Booted, /],
  [{ Booted: 1 }, "Booted", /^Booted: a unit variant takes no value$/],
  ["RunProcess", "RunProcess", /^RunProcess: expected string$/],
  [{ RunProcess: "a:b" }, "RunProcess", /^RunProcess: Missing field in ProcessId string$/],
  [{ KillProcess: "a:b:c:d" }, "KillProcess", /^KillProcess: Too many colons/],
  [{ InitializeProcess: [] }, "InitializeProcess", /expected a struct/],
  [init({ public: undefined }), "InitializeProcess", /^InitializeProcess: missing field public$/],
  [init({ public: "yes" }), "InitializeProcess", /^InitializeProcess: public: expected a boolean$/],
  [init({ wit_version: 2 ** 32 }), "InitializeProcess", /wit_version: expected u32$/],
  [
    init({ on_exit: "Sometimes" }),
    "InitializeProcess",
    /on_exit: expected OnExit "None", "Restart"/,
  ],
  [
    init({
      on_exit: {
        Requests: [[
          "n@b:c:d",
          {
            inherit: false,
            expects_response: null,
            body: [1, 256],
            metadata: null,
            capabilities: [],
          },
          null,
        ]],
      },
    }),
    "InitializeProcess",
    /^InitializeProcess: on_exit: \[0\]: body: \[1\]: expected u8$/,
  ],
  [
    init({ initial_capabilities: [{ issuer: "no-at-sign", params: "x" }] }),
    "InitializeProcess",
    /initial_capabilities: \[0\]: issuer: Node ID missing$/,
  ],
  [
    { GrantCapabilities: { target: "a:b:c", capabilities: {} } },
    "GrantCapabilities",
    /capabilities: expected a sequence/,
  ],
  [{ SetOnExit: { on_exit: "None" } }, "SetOnExit", /^SetOnExit: missing field target$/],
  [{ Debug: "Everything" }, "Debug", /^Debug: expected KernelPrint/],
  [{ Debug: { HasCap: { on: "a:b:c" } } }, "Debug", /^Debug: missing field cap$/],
];

Deno.test("KernelCommand: malformed bodies fail with a clear reason", () => {
  for (const [body, variant, reason] of MALFORMED) {
    const bytes = body instanceof Uint8Array ? body : enc.encode(JSON.stringify(body));
    let error: unknown;
    try {
      parseKernelCommand(bytes);
    } catch (e) {
      error = e;
    }
    assert(error instanceof KernelCommandError, `${dec.decode(bytes)} should not parse`);
    assertEquals(error.variant, variant, dec.decode(bytes));
    assert(reason.test(error.message), `${dec.decode(bytes)}: "${error.message}" !~ ${reason}`);
  }
});

Deno.test("kernel commands through a booted node: malformed ones printed, answered as Hyperdrive does", async () => {
  await withTempDir(async (root) => {
    const node = await bootTestNode(`${root}/home`);
    const KERNEL = "our@kernel:distro:sys";
    const ask = async (body: Uint8Array | string, blob?: Uint8Array, timeoutSeconds = 5) =>
      parseKernelResponse((await node.request(KERNEL, body, { blob, timeoutSeconds })).body);
    try {
      // a malformed InitializeProcess or RunProcess gets that command's error response
      const bad = JSON.stringify(init({ public: "yes" }));
      assertEquals(await ask(bad, new Uint8Array([1])), { tag: "InitializeProcessError" });
      await node.waitForPrint(
        /^kernel: couldn't parse command: InitializeProcess: public: expected a boolean$/,
      );
      assertEquals(await ask('{"RunProcess":7}'), { tag: "RunProcessError" });
      await node.waitForPrint(/^kernel: couldn't parse command: RunProcess: expected string$/);
      // others are printed and not answered (Hyperdrive has no error response for them)
      await assertRejects(() => ask('{"KillProcess":"a:b"}', undefined, 1), "timeout");
      await node.waitForPrint(
        /^kernel: couldn't parse command: KillProcess: Missing field in ProcessId string$/,
      );
      await node.send(KERNEL, '"Frobnicate"');
      await node.waitForPrint(/^kernel: couldn't parse command: unknown variant "Frobnicate"/);

      // well-formed commands, written and read with wire/kernel.ts
      const timer = parseProcessId("timer:distro:sys");
      const granted = { issuer: parseAddress("fake.dev@kernel:distro:sys"), params: '"kc-test"' };
      const hasCap = () =>
        ask(
          encodeKernelCommand({ tag: "Debug", print: { tag: "HasCap", on: timer, cap: granted } }),
        );
      assertEquals(await hasCap(), { tag: "Debug", print: { tag: "HasCap", has: false } });
      await node.send(
        KERNEL,
        encodeKernelCommand({ tag: "GrantCapabilities", target: timer, capabilities: [granted] }),
      );
      assertEquals(await hasCap(), { tag: "Debug", print: { tag: "HasCap", has: true } });
      assertEquals(
        await ask(encodeKernelCommand({ tag: "RunProcess", id: parseProcessId("ghost:x:y") })),
        { tag: "RunProcessError" },
      );
      const kernelEntry = await ask(
        encodeKernelCommand({
          tag: "Debug",
          print: { tag: "Process", id: parseProcessId("kernel:distro:sys") },
        }),
      );
      assert(kernelEntry.tag === "Debug" && kernelEntry.print.tag === "Process");
      assertEquals(kernelEntry.print.process?.wasmBytesHandle, "");
      // hyperdeno's verbosity commands (settings' control): read, set, and the filter follows
      assertEquals(
        dec.decode(
          (await node.request(KERNEL, encodeKernelCommand({ tag: "SetVerbosity", level: 0 })))
            .body,
        ),
        '{"Debug":{"Verbosity":{"level":0}}}',
      );
      assertEquals(await ask('{"Debug":"Verbosity"}'), {
        tag: "Debug",
        print: { tag: "Verbosity", level: 0 },
      });
      await node.request(KERNEL, '{"KillProcess":"quiet:x:y"}', { timeoutSeconds: 1 })
        .catch(() => {});
      assertEquals(await ask('{"SetVerbosity":2}'), {
        tag: "Debug",
        print: { tag: "Verbosity", level: 2 },
      });
      await node.send(KERNEL, '{"KillProcess":"loud:x:y"}');
      await node.waitForPrint(/^kernel: no such process loud:x:y to kill$/);
      assert(
        !node.prints.some((p) => p.includes("quiet:x:y")),
        "a level-2 print showed at verbosity 0",
      );
      await node.send(KERNEL, '{"SetVerbosity":9}');
      await node.waitForPrint(
        /^kernel: couldn't parse command: SetVerbosity: verbosity 9 is not 0-4$/,
      );
      // and the node still serves
      const map = await ask(encodeKernelCommand({ tag: "Debug", print: { tag: "ProcessMap" } }));
      assert(map.tag === "Debug" && map.print.tag === "ProcessMap");
      assert(map.print.processes.has("net:distro:sys"));
    } finally {
      await node.shutdown();
    }
  });
});
