// Module channels to sqlite's db Workers (kernel/process_host/module_channel.ts): after a
// process's Query or Write passed sqlite's checks, its later ones on that database go
// straight to the database's Worker. What must hold: the same answers as through the
// module, no request of the process overtaking another, the rights of the moment (a cap
// dropped closes the channel), and the time limit.

import { assert, assertEquals } from "../assert.ts";
import { createSqliteModule, sqliteCapParams } from "../../modules/sqlite/mod.ts";
import type { ConsolePort, RuntimeConsole } from "../../kernel/console_port.ts";
import type { HyperdenoNode } from "../../main.ts";
import { parseProcessId } from "../../wire/core.ts";
import {
  appBatch,
  type AppCall,
  appCall,
  countTo,
  NODE,
  withCountedModule,
} from "./node_helpers.ts";

const dec = (b?: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array());
const enc = (s: string) => new TextEncoder().encode(s);
const A = "our@app:storage:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const sqlite = (action: unknown, blob?: Uint8Array): AppCall => ({
  target: "sqlite:distro:sys",
  body: { package_id: PKG, db: "main", action },
  blob,
});
const write = (statement: string, params?: unknown[]) =>
  sqlite({ Write: { statement, tx_id: null } }, params && enc(JSON.stringify(params)));
const query = (q: string, params?: unknown[]) =>
  sqlite({ Query: q }, params && enc(JSON.stringify(params)));

function withNode(
  opts: Parameters<typeof createSqliteModule>[0],
  f: Parameters<typeof withCountedModule>[1],
  console?: RuntimeConsole,
) {
  return withCountedModule(createSqliteModule(opts), f, console);
}

const BIG = "x".repeat(20_000);

/** Opens A's database and creates table t (v): the Write's answer opens A's channel. */
async function openWithTable(node: HyperdenoNode): Promise<void> {
  assertEquals((await appCall(node, A, sqlite("Open"))).text, '"Ok"');
  assertEquals((await appCall(node, A, write("CREATE TABLE t (v)"))).text, '"Ok"');
}

/** Requests covering answers, rows, blobs and every error a channel can give. */
const MIXED: AppCall[] = [
  write("INSERT INTO t (k, v) VALUES (?, ?)", [1, "a"]),
  write("INSERT INTO t (k, v) VALUES (?, ?)", [2, null]),
  query("SELECT k, v FROM t ORDER BY k"),
  query("SELECT v FROM t WHERE k = ?", [1]),
  query("SELECT v FROM t WHERE k = ?", [99]),
  query("SELEC v FROM t"),
  write("SELECT 1"),
  query("SELECT nope FROM t"),
  write("INSERT INTO t (k, v) VALUES (?, ?)", [1, "dup"]),
  sqlite({ Query: "SELECT k FROM t WHERE k = ?" }, enc("not json")),
  query("SELECT count(*) AS n FROM t"),
  // parameters too big for the channel's ring go through the module; a result too big for
  // the answer ring goes by the answer channel's port
  write("INSERT INTO t (k, v) VALUES (?, ?)", [3, BIG]),
  query("SELECT v FROM t WHERE k = 3"),
  query("SELECT k FROM t ORDER BY k"),
];

Deno.test({
  name: "sqlite channels: later requests skip the module and are answered as through it",
  async fn() {
    const answers: Record<string, (string | null)[][]> = {};
    const printed: Record<string, string[]> = {};
    for (const moduleChannels of [false, true]) {
      await withNode({ moduleChannels }, async (n, m) => {
        await appCall(n.node, A, sqlite("Open"));
        const created = await appCall(
          n.node,
          A,
          write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"),
        );
        assertEquals(created.text, '"Ok"');
        const before = m.handled;
        const from = n.prints.length;
        const got = await appBatch(n.node, A, MIXED);
        // errors print as the module prints its own (the db Worker's reach the terminal a bit later)
        await new Promise((r) => setTimeout(r, 100));
        printed[String(moduleChannels)] = n.prints.slice(from).filter((p) =>
          p.startsWith("sqlite:")
        );
        answers[String(moduleChannels)] = got.map((r) => [r.text, dec(r.blob), r.mime]);
        if (moduleChannels) {
          // only the big Write went through the module
          assertEquals(m.handled, before + 1, "requests went through the module");
        } else {
          assertEquals(m.handled, before + MIXED.length);
        }
      });
    }
    assertEquals(answers["true"], answers["false"]);
    assertEquals(printed["true"], printed["false"]);
    assertEquals(printed["true"].length, 5, printed["true"].join("\n"));
    // and they are the answers sqlite gives
    const a = answers["true"];
    assertEquals(a[2], [
      '"Read"',
      '[{"k":1,"v":"a"},{"k":2,"v":null}]',
      "application/octet-stream",
    ]);
    assertEquals(a[5][0], '{"Err":"NotAReadKeyword"}');
    assertEquals(a[6][0], '{"Err":"NotAWriteKeyword"}');
    assertEquals(a[9][0], '{"Err":"InvalidParameters"}');
    assertEquals(a[10][1], '[{"n":2}]');
    assertEquals(a[12][1], JSON.stringify([{ v: BIG }]));
    assertEquals(a[13][1], '[{"k":1},{"k":2},{"k":3}]');
  },
});

Deno.test({
  name:
    "sqlite channels: a cap dropped or granted closes the channel; rights are those of the moment",
  async fn() {
    await withNode({}, async (n, m) => {
      await openWithTable(n.node);
      await appCall(n.node, A, write("INSERT INTO t VALUES (1)"));
      assertEquals(dec((await appCall(n.node, A, query("SELECT v FROM t"))).blob), '[{"v":1}]');
      const app = parseProcessId("app:storage:test.os");
      const issuer = { node: NODE, process: parseProcessId("sqlite:distro:sys") };
      const pkg = { packageName: "storage", publisherNode: "test.os" };
      const read = { issuer, params: sqliteCapParams("read", pkg, "main") };
      m.ctx!.dropCapabilities(app, [read]);
      // the channel (read and write) is closed: the module refuses, and the channel it
      // opens again after the next Write carries write alone
      assertEquals(
        (await appCall(n.node, A, query("SELECT v FROM t"))).text,
        '{"Err":"NoReadCap"}',
      );
      const h = m.handled;
      const after = await appBatch(n.node, A, [
        write("INSERT INTO t VALUES (2)"),
        query("SELECT v FROM t"),
        write("INSERT INTO t VALUES (3)"),
        query("SELECT v FROM t"),
      ]);
      assertEquals(after.map((r) => r.text), [
        '"Ok"',
        '{"Err":"NoReadCap"}',
        '"Ok"',
        '{"Err":"NoReadCap"}',
      ]);
      assertEquals(m.handled, h + 1, "after the first Write, the channel answered");
      m.ctx!.grantCapabilities(app, [read]);
      const back = await appCall(n.node, A, query("SELECT v FROM t ORDER BY v"));
      assertEquals([back.text, dec(back.blob)], ['"Read"', '[{"v":1},{"v":2},{"v":3}]']);
    });
  },
});

Deno.test({
  name: "sqlite channels: a request sent expecting no answer is not overtaken",
  async fn() {
    await withNode({}, async (n) => {
      await openWithTable(n.node);
      for (let i = 0; i < 20; i++) {
        // fire and forget goes through the module; the Query right after must see it
        const told = await n.node.request(
          A,
          JSON.stringify({
            op: "tell",
            target: "our@sqlite:distro:sys",
            body: JSON.stringify({
              package_id: PKG,
              db: "main",
              action: { Write: { statement: `INSERT INTO t VALUES (${i})`, tx_id: null } },
            }),
          }),
          { timeoutSeconds: 10 },
        );
        assertEquals(dec(told.body), '{"ok":true}');
        const r = await appCall(n.node, A, query("SELECT count(*) AS n FROM t"));
        assertEquals(dec(r.blob), `[{"n":${i + 1}}]`);
      }
    });
  },
});

Deno.test({
  name: "sqlite channels: a channel request past the time limit is answered; the db stays usable",
  async fn() {
    await withNode({ requestTimeoutMs: 400 }, async (n, m) => {
      await openWithTable(n.node);
      const h = m.handled;
      const t0 = performance.now();
      const long = await appCall(n.node, A, query(countTo(40_000_000)));
      const took = performance.now() - t0;
      assertEquals(
        long.text,
        `{"Err":{"RusqliteError":"interrupted: past sqlite's time limit of 400 ms; ` +
          `the statement was stopped and its transaction rolled back"}}`,
      );
      assertEquals(m.handled, h, "the long query went by the channel");
      assert(took < 20_000, `answered after ${took.toFixed(0)} ms`);
      assert(n.prints.some((p) => p.includes("ran past the time limit")), n.prints.join("\n"));
      // the database has a fresh Worker: requests go through the module, then a channel again
      const after = await appBatch(n.node, A, [
        write("INSERT INTO t VALUES (7)"),
        query("SELECT v FROM t"),
        query("SELECT v FROM t"),
      ]);
      assertEquals(after.map((r) => dec(r.blob)), ["", '[{"v":7}]', '[{"v":7}]']);
    });
  },
});

Deno.test({
  name: "sqlite channels: RemoveDb closes them; the database is gone, then opened anew",
  async fn() {
    await withNode({}, async (n, m) => {
      await openWithTable(n.node);
      const h = m.handled;
      const before = await appBatch(n.node, A, [
        write("INSERT INTO t VALUES (1)"),
        query("SELECT v FROM t"),
      ]);
      assertEquals(dec(before[1].blob), '[{"v":1}]');
      assertEquals(m.handled, h, "by the channel");
      assertEquals((await appCall(n.node, A, sqlite("RemoveDb"))).text, '"Ok"');
      const gone = await appCall(n.node, A, query("SELECT v FROM t"));
      assertEquals(gone.text, `{"Err":{"NoDb":[${JSON.stringify(PKG)},"main"]}}`);
      await appCall(n.node, A, sqlite("Open"));
      const fresh = await appBatch(n.node, A, [
        write("CREATE TABLE t (v)"),
        query("SELECT count(*) AS n FROM t"),
        query("SELECT count(*) AS n FROM t"),
      ]);
      assertEquals(fresh.map((r) => dec(r.blob)), ["", '[{"n":0}]', '[{"n":0}]']);
    });
  },
});

Deno.test({
  name: "sqlite channels: a process that restarts gets a new channel and is served by it",
  async fn() {
    await withNode({}, async (n, m) => {
      await openWithTable(n.node);
      await appCall(n.node, A, write("INSERT INTO t VALUES (1)"));
      await n.node.send(A, JSON.stringify({ op: "crash" }));
      // on_exit Restart: the process comes back (after its backoff) and answers again
      const deadline = Date.now() + 20_000;
      let back;
      while (!back && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        back = await appCall(n.node, A, query("SELECT v FROM t")).catch(() => undefined);
      }
      assert(back, "the process did not come back");
      assertEquals(dec(back.blob), '[{"v":1}]');
      const h = m.handled;
      const again = await appBatch(n.node, A, [
        write("INSERT INTO t VALUES (2)"),
        query("SELECT v FROM t ORDER BY v"),
      ]);
      assertEquals(dec(again[1].blob), '[{"v":1},{"v":2}]');
      assertEquals(m.handled, h, "the restarted process's channel answered");
    });
  },
});

Deno.test({
  name: "sqlite channels: a kernel debug switch closes them and none opens while it is on",
  async fn() {
    let port!: ConsolePort;
    const console: RuntimeConsole = {
      print() {},
      attach(p) {
        port = p;
      },
      verbosity: 0,
      setVerbosity() {},
    };
    await withNode({}, async (n, m) => {
      await openWithTable(n.node);
      let h = m.handled;
      await appCall(n.node, A, query("SELECT v FROM t"));
      assertEquals(m.handled, h, "by the channel");
      // printing the event loop needs every message to pass it
      port.setEventLoop(true);
      h = m.handled;
      await appBatch(n.node, A, [query("SELECT v FROM t"), query("SELECT v FROM t")]);
      assertEquals(m.handled, h + 2, "through the kernel while the switch is on");
      port.setEventLoop(false);
      h = m.handled;
      await appBatch(n.node, A, [query("SELECT v FROM t"), query("SELECT v FROM t")]);
      assertEquals(m.handled, h + 1, "the first through the kernel opens a channel again");
    }, console);
  },
});
