// The console's parts on their own: the line editor (graphemes, display width,
// sideways scrolling), raw key decoding, history, the rotating log, the
// verbosity-3 filter, and the texts the kernel and net print as Hyperdrive does.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { LineEditor } from "../../console/line.ts";
import { type InputEvent, KeyDecoder } from "../../console/keys.ts";
import { CommandHistory } from "../../console/history.ts";
import { logFileName, Logger, rfc2822 } from "../../console/logger.ts";
import { EventLoopFilter, textLines } from "../../console/printout.ts";
import { displayWidth, fitWidth, graphemes } from "../../console/width.ts";
import { debugWrappedSendError, displayKernelMessage } from "../../kernel/debug.ts";
import { readScriptsJson } from "../../kernel/packages.ts";
import { LatencyWindow } from "../../kernel/stats.ts";
import { createNetModule } from "../../net/mod.ts";
import { parseAddress } from "../../wire/core.ts";

const enc = new TextEncoder();

Deno.test("width: graphemes and columns", () => {
  assertEquals(graphemes("e\u0301👍🏽🇫🇷字a"), ["e\u0301", "👍🏽", "🇫🇷", "字", "a"]);
  assertEquals(displayWidth("abc"), 3);
  assertEquals(displayWidth("日本語"), 6);
  assertEquals(displayWidth("e\u0301"), 1);
  assertEquals(displayWidth("👍"), 2);
  assertEquals(displayWidth("🇫🇷"), 2);
  assertEquals(displayWidth("\u200b"), 0);
  assertEquals(fitWidth("abcdef", 4), "abc…\x1b[0m");
  assertEquals(fitWidth("\x1b[7mab\x1b[0m", 2), "\x1b[7mab\x1b[0m");
});

Deno.test("line editor: moves and deletes by grapheme; keeps the cursor in view", () => {
  const l = new LineEditor();
  l.insert("ae\u0301字");
  assertEquals(l.length, 3);
  assert(l.left());
  assert(l.backspace()); // é, accent and all
  assertEquals(l.text, "a字");
  l.home();
  assert(!l.left());
  assert(l.delete());
  assertEquals(l.text, "字");
  l.end();
  l.insert("b");
  assertEquals(l.text, "字b");
  assertEquals(l.view(10), { text: "字b", cursorCol: 3 });
  // a long line scrolls sideways: the cursor stays visible
  l.set("0123456789abcdefghij");
  let v = l.view(8);
  assertEquals(v.cursorCol, 7);
  assertEquals(v.text, "defghij");
  l.home();
  v = l.view(8);
  assertEquals(v, { text: "01234567", cursorCol: 0 });
  for (let i = 0; i < 12; i++) l.right();
  v = l.view(8);
  assert(v.cursorCol < 8 && v.text.includes("c"), JSON.stringify(v));
  // wide characters never split at the window's edge
  l.set("字字字字字");
  v = l.view(5);
  assertEquals(displayWidth(v.text) <= 5, true);
});

Deno.test("keys: control keys, escape sequences, split and invalid UTF-8, bracketed paste", () => {
  const k = new KeyDecoder(16);
  const keys = (b: number[] | string) =>
    k.push(typeof b === "string" ? enc.encode(b) : new Uint8Array(b));
  assertEquals(
    keys([0x01, 0x05, 0x12, 0x07, 0x16, 0x17, 0x0a, 0x13, 0x0c, 0x03, 0x04]),
    [
      "a",
      "e",
      "r",
      "g",
      "v",
      "w",
      "j",
      "s",
      "l",
      "c",
      "d",
    ].map((key) => ({ kind: "ctrl", key } as InputEvent)),
  );
  assertEquals(
    keys("\r\x7f\x1b[A\x1b[B\x1b[C\x1b[D\x1b[3~\x1b[H\x1b[F\x1bOA\x1b[1~\x1b[4~"),
    [
      "enter",
      "backspace",
      "up",
      "down",
      "right",
      "left",
      "delete",
      "home",
      "end",
      "up",
      "home",
      "end",
    ].map((key) => ({ kind: "key", key } as InputEvent)),
  );
  assertEquals(keys("\x1b"), [{ kind: "key", key: "escape" }]);
  // a character split across reads waits for its rest
  const ji = enc.encode("字");
  assertEquals(keys([...enc.encode("a"), ji[0]]), [{ kind: "text", text: "a" }]);
  assertEquals(keys([ji[1], ji[2]]), [{ kind: "text", text: "字" }]);
  // an escape sequence split across reads too
  assertEquals(keys([0x1b, 0x5b]), []);
  assertEquals(keys([0x41]), [{ kind: "key", key: "up" }]);
  // not UTF-8: reported and skipped
  assertEquals(keys([0x61, 0xff, 0xfe, 0x62]), [
    { kind: "text", text: "a" },
    { kind: "invalid", bytes: 2 },
    { kind: "text", text: "b" },
  ]);
  assertEquals(keys([0xe5, 0x41]), [{ kind: "invalid", bytes: 1 }, { kind: "text", text: "A" }]);
  // bracketed paste, across reads; over the limit it is refused whole
  assertEquals(keys("\x1b[200~ab\ncd"), []);
  assertEquals(keys("e\x1b[201~x"), [
    { kind: "paste", text: "ab\ncde", dropped: 0 },
    { kind: "text", text: "x" },
  ]);
  assertEquals(keys(`\x1b[200~${"y".repeat(20)}\x1b[201~`), [
    { kind: "paste", text: "", dropped: 20 },
  ]);
});

Deno.test("history: Hyperdrive's walk and search; persisted and trimmed", async () => {
  await withTempDir(async (root) => {
    const path = `${root}/.terminal_history`;
    const h = new CommandHistory(path, 5);
    for (const l of ["a1", "b2", "b2", "", "c3"]) h.add(l);
    assertEquals(h.size, 3);
    assertEquals(h.prev("typing"), "c3");
    assertEquals(h.prev(""), "b2");
    assertEquals(h.prev(""), "a1");
    assertEquals(h.prev(""), undefined);
    assertEquals(h.next(), "b2");
    assertEquals(h.next(), "c3");
    assertEquals(h.next(), "typing");
    assertEquals(h.next(), undefined);
    assertEquals(h.search("2", 0), "b2");
    assertEquals(h.search("", 0), undefined);
    h.add("b9");
    assertEquals(h.search("b", 0), "b9");
    assertEquals(h.search("b", 1), "b2");
    assertEquals(h.search("b", 7), "b2"); // fewer matches: the oldest
    assertEquals(h.search("zz", 0), undefined);
    h.close();
    assertEquals(await Deno.readTextFile(path), "a1\nb2\nc3\nb9\n");
    // kept to the last `max` lines; a file twice as long is cut back
    await Deno.writeTextFile(path, Array.from({ length: 12 }, (_, i) => `l${i}`).join("\n") + "\n");
    const again = new CommandHistory(path, 5);
    assertEquals(again.size, 5);
    assertEquals(again.prev(""), "l11");
    again.close();
    assertEquals((await Deno.readTextFile(path)).split("\n").filter((l) => l).length, 5);
  });
});

Deno.test("logger: timestamped lines, rotation by size, oldest removed", async () => {
  await withTempDir(async (root) => {
    assertMatch(
      rfc2822(new Date(2003, 6, 1, 10, 52, 37)),
      /^Tue, 1 Jul 2003 10:52:37 [+-]\d{4}$/,
    );
    assertEquals(logFileName(new Date(2024, 0, 2, 3, 4, 5)), "2024-01-02-03:04:05.log");
    const log = new Logger(root, { maxLogSize: 1000, numberLogFiles: 3 });
    for (let i = 0; i < 40; i++) {
      log.write(`line ${i} ${"x".repeat(60)}`);
      if (i % 5 === 4) log.flush();
    }
    log.close();
    const files = [...Deno.readDirSync(`${root}/.terminal_logs`)].map((e) => e.name).sort();
    assertEquals(files.length, 3);
    let all = "";
    for (const f of files) {
      const text = await Deno.readTextFile(`${root}/.terminal_logs/${f}`);
      assert(text.length <= 1000 / 3 + 100, `${f} is ${text.length} bytes`);
      all += text;
    }
    assertMatch(all, /^\[\w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\] line 39 x+$/m);
    assert(!all.includes("line 0 "), "the oldest file was kept");
    // max-log-size 0: one file, no limit
    const one = new Logger(`${root}/b`, { maxLogSize: 0 });
    for (let i = 0; i < 50; i++) one.write("y".repeat(100));
    one.close();
    assertEquals([...Deno.readDirSync(`${root}/b/.terminal_logs`)].length, 1);
  });
});

Deno.test("printouts: lines as Rust's lines(); verbosity 3 leaves out log-drive writes", () => {
  assertEquals(textLines("a\r\nb\n"), ["a", "b"]);
  assertEquals(textLines("\r\nx"), ["", "x"]);
  const f = new EventLoopFilter();
  const req = (id: number, path: string, action: string, expects = "Some(5)") =>
    `{\n    id: ${id},\n    source: a.os@p:q:r,\n    target: a.os@vfs:distro:sys,\n    rsvp: None,\n    message: Request(\n        inherit: false,\n        expects_response: ${expects},\n        body: {"path":"${path}","action":"${action}"},\n        metadata: None,\n        capabilities: [],\n    ),\n    blob: false,\n}`;
  const res = (id: number) =>
    `{\n    id: ${id},\n    source: a.os@vfs:distro:sys,\n    target: a.os@p:q:r,\n    rsvp: None,\n    message: Response(\n        inherit: false,\n        body: "Ok",\n        metadata: None,\n        context: None,\n        capabilities: [],\n    ),\n    blob: false,\n}`;
  assert(f.suppress(req(1, "/q:r/log/today.log", "Append")));
  assert(f.suppress(res(1)));
  assert(!f.suppress(res(1)), "only once");
  assert(!f.suppress(req(2, "/q:r/tmp/x", "Append")));
  assert(!f.suppress(req(3, "/q:r/log/x", "Read")));
  assert(!f.suppress(res(4)));
});

Deno.test("kernel texts: KernelMessage's Display and WrappedSendError's Debug", () => {
  const a = parseAddress("a.os@p:q:r.os");
  const b = parseAddress("a.os@vfs:distro:sys");
  const cap = { issuer: a, params: '{"b":1,"a":"x"}', signature: new Uint8Array([1, 2]) };
  assertEquals(
    displayKernelMessage({
      id: 7n,
      source: a,
      target: b,
      message: {
        tag: "request",
        val: {
          inherit: false,
          expectsResponse: 5n,
          body: enc.encode("hi"),
          capabilities: [cap],
        },
      },
    }),
    '{\n    id: 7,\n    source: a.os@p:q:r.os,\n    target: a.os@vfs:distro:sys,\n    rsvp: None,\n    message: Request(\n        inherit: false,\n        expects_response: Some(5),\n        body: hi,\n        metadata: None,\n        capabilities: [\n            a.os@p:q:r.os({"a":"x","b":1})\n        ]\n    ),\n    blob: false,\n}',
  );
  assertEquals(
    displayKernelMessage({
      id: 8n,
      source: b,
      target: a,
      rsvp: a,
      message: {
        tag: "response",
        val: [
          { inherit: true, body: new Uint8Array([0xff, 1]), metadata: "m", capabilities: [] },
          enc.encode('{"z":0,"y":[1]}'),
        ],
      },
      lazyLoadBlob: { bytes: new Uint8Array(1) },
    }),
    '{\n    id: 8,\n    source: a.os@vfs:distro:sys,\n    target: a.os@p:q:r.os,\n    rsvp: a.os@p:q:r.os,\n    message: Response(\n        inherit: true,\n        body: [255, 1],\n        metadata: m,\n        context: {"y":[1],"z":0},\n        capabilities: [],\n    ),\n    blob: true,\n}',
  );
  assertEquals(
    debugWrappedSendError({
      id: 9n,
      source: a,
      error: {
        kind: "timeout",
        target: b,
        message: {
          tag: "request",
          val: { inherit: false, body: new Uint8Array([1]), capabilities: [] },
        },
      },
    }),
    'WrappedSendError { id: 9, source: Address { node: "a.os", process: ProcessId { process_name: "p", package_name: "q", publisher_node: "r.os" } }, error: SendError { kind: Timeout, target: Address { node: "a.os", process: ProcessId { process_name: "vfs", package_name: "distro", publisher_node: "sys" } }, message: Request(Request { inherit: false, expects_response: None, body: [1], metadata: None, capabilities: [] }), lazy_load_blob: None } }',
  );
});

Deno.test("net: GetDiagnostics' text as Hyperdrive's, our Identity in Rust's pretty Debug", async () => {
  const net = createNetModule({
    our: "n.os",
    networkingKey: new Uint8Array(32).fill(7),
    tcpPort: 0,
    wsPort: false,
    routers: ["r1.os", "r2.os"],
    maxPassthroughs: 2,
  });
  try {
    const text = net.diagnostics();
    const key = net.identity.public_key;
    assertEquals(
      text,
      "indexing from contract address 0x000000000044C6B8Cb4d8f0F889a3E47664EAeda\r\n" +
        `our Identity: Identity {\n    name: "n.os",\n    networking_key: "${key}",\n    routing: Routers(\n        [\n            "r1.os",\n            "r2.os",\n        ],\n    ),\n}\r\n` +
        "we have connections with 0 peers (32 max):\r\n" +
        "we allow 2 max passthroughs\r\n" +
        "we have 0 entries in the PKI\r\n",
    );
  } finally {
    await net.shutdown();
  }
});

Deno.test("scripts.json: read as serde reads DotScriptsEntry, with reasons", () => {
  const ok = readScriptsJson({
    "a.wasm": { root: true, public: false, request_networking: false },
    "b.ts": {
      root: false,
      public: true,
      request_networking: true,
      request_capabilities: ["x:y:z"],
      grant_capabilities: null,
      wit_version: 1,
      extra: "ignored",
    },
  }, "f");
  assertEquals(ok.get("a.wasm"), {
    root: true,
    public: false,
    request_networking: false,
    request_capabilities: undefined,
    grant_capabilities: undefined,
    wit_version: undefined,
  });
  assertEquals(ok.get("b.ts")?.request_capabilities, ["x:y:z"]);
  const bad = (v: unknown) => {
    try {
      readScriptsJson(v, "f");
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  assertEquals(bad([]), "f: expected an object from script file to entry");
  assertEquals(
    bad({ "a.wasm": { public: false, request_networking: false } }),
    'f: "a.wasm": root must be true or false',
  );
  assertEquals(
    bad({ "a.wasm": { root: 1, public: false, request_networking: false } }),
    'f: "a.wasm": root must be true or false',
  );
  assertEquals(
    bad({ "a.wasm": { root: true, public: false, request_networking: false, wit_version: -1 } }),
    'f: "a.wasm": wit_version must be a u32',
  );
  assertEquals(
    bad({ "../a.wasm": { root: true, public: false, request_networking: false } }),
    'f: "../a.wasm": expected a script file in pkg/ ending in .wasm, .ts or .js',
  );
  assertEquals(
    bad({
      "a.wasm": { root: true, public: false, request_networking: false, grant_capabilities: "x" },
    }),
    'f: "a.wasm": grant_capabilities must be a list',
  );
});

Deno.test("stats: p50/p99 over the last minute's slots", () => {
  const w = new LatencyWindow();
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 99; i++) w.record(1, t0);
  w.record(100, t0);
  const s = w.summary(t0 + 1000);
  assertEquals(s.count, 100);
  assert(Math.abs(s.p50! - 1) / 1 < 0.05, `p50 ${s.p50}`);
  assert(Math.abs(s.p99! - 1) / 1 < 0.05, `p99 ${s.p99}`);
  w.record(100, t0 + 2000);
  assert(w.summary(t0 + 3000).p99! > 90, "the slow ones count");
  // a minute later they are gone
  assertEquals(w.summary(t0 + 61_000).count, 0);
});
