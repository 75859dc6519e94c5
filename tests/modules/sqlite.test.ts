// sqlite:distro:sys driven directly through start/handleMessage, on real SQLite files.

import { assert, assertEquals } from "../assert.ts";
import { DatabaseSync } from "node:sqlite";
import { parseProcessId, SQLITE_PROCESS_ID } from "../../wire/core.ts";
import { createSqliteModule, decodeCanonicalBase64, formatReal } from "../../modules/sqlite/mod.ts";
import { parseParams } from "../../modules/sqlite/values.ts";
import { returnsAtMostOneRow } from "../../modules/sqlite/plan.ts";
import { call, moduleAddress, OUR, requestKm, type SendOpts, TestCtx } from "./ctx.ts";

const SQLITE = moduleAddress(SQLITE_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;
const OTHER = `${OUR}@other:otherapp:pub.os`;
const PKG = { package_name: "myapp", publisher_node: "pub.os" };

async function setup(home?: string) {
  home ??= await Deno.makeTempDir({ prefix: "hd-sqlite-" });
  const ctx = new TestCtx(home);
  const mod = createSqliteModule();
  await mod.start(ctx);
  const send = async (from: string, action: unknown, o: SendOpts = {}, db = "main") =>
    (await call(ctx, mod, requestKm(from, SQLITE, { package_id: PKG, db, action }, o)))!;
  const write = (statement: string, params?: string, tx_id: number | null = null) =>
    send(APP, { Write: { statement, tx_id } }, params ? { blob: enc(params) } : {});
  const query = async (q: string, params?: string, from = APP) => {
    const r = await send(from, { Query: q }, params ? { blob: enc(params) } : {});
    return { r, rows: r.blob ? new TextDecoder().decode(r.blob) : undefined };
  };
  const cleanup = async () => {
    await mod.shutdown?.();
    await Deno.remove(home!, { recursive: true });
  };
  return { home, ctx, mod, send, write, query, cleanup };
}

const enc = (s: string) => new TextEncoder().encode(s);
const decode = (b?: Uint8Array) => new TextDecoder().decode(b);

Deno.test("sqlite: formatReal matches serde_json float notation", () => {
  const cases: [number, string][] = [
    [1, "1.0"],
    [-2.5, "-2.5"],
    [0.1, "0.1"],
    [0, "0.0"],
    [-0, "-0.0"],
    [1e15, "1000000000000000.0"],
    [1e16, "1e16"],
    [1e20, "1e20"],
    [123456.789, "123456.789"],
    [0.0001, "0.0001"],
    [1.5e-7, "1.5e-7"],
    [1.7976931348623157e308, "1.7976931348623157e308"],
    [5e-324, "5e-324"],
    [12345678901234567890, "1.2345678901234567e19"],
  ];
  for (const [x, s] of cases) assertEquals(formatReal(x), s, `${x}`);
});

Deno.test("sqlite: canonical base64 detection as the base64 crate's STANDARD", () => {
  assertEquals(decodeCanonicalBase64(""), new Uint8Array());
  assertEquals(decodeCanonicalBase64("AAEC"), new Uint8Array([0, 1, 2]));
  assertEquals(decodeCanonicalBase64("QQ=="), new Uint8Array([65]));
  assertEquals(decodeCanonicalBase64("QR=="), undefined); // trailing bits set
  assertEquals(decodeCanonicalBase64("QQ"), undefined); // padding required
  assertEquals(decodeCanonicalBase64("hello world"), undefined);
  assertEquals(decodeCanonicalBase64("a-b_"), undefined); // url-safe alphabet is not standard
  assertEquals(decodeCanonicalBase64("QUJD"), new Uint8Array([65, 66, 67]));
  assertEquals(decodeCanonicalBase64("QQ=A"), undefined); // padding only at the end
  assertEquals(decodeCanonicalBase64("QQ==QQ=="), undefined);
  assertEquals(decodeCanonicalBase64("A==="), undefined);
  assertEquals(decodeCanonicalBase64(" QQ=="), undefined); // whitespace is not base64
  assertEquals(decodeCanonicalBase64("QQ==\n"), undefined);
});

Deno.test("sqlite: parameters bind alike whether their numbers' source is kept or not", () => {
  // integer literals alone are parsed without the reviver; anything else, or an integer a
  // double cannot hold exactly, or -0, with it
  const cases: [string, unknown][] = [
    ['[1, "value"]', [1n, "value"]],
    ["[ 7 ,\n-3]", [7n, -3n]],
    ["[1.0, 1e3, 1.25]", [1, 1000, 1.25]],
    ['["a.5e", 2]', ["a.5e", 2n]], // a string that looks like a real: the slow parse
    ["[-0]", [-0]],
    ["[9007199254740993]", [9007199254740993n]],
    ["[-9223372036854775808]", [-9223372036854775808n]],
    ["[9223372036854775808]", [9223372036854775808]],
    ["[true, false, null]", [1n, 0n, null]],
    ['["AAEC", ""]', [new Uint8Array([0, 1, 2]), new Uint8Array()]],
    ['[{"a": 1}]', undefined],
    ["[[1]]", undefined],
    ['{"a": 1}', undefined],
    ["[1,]", undefined],
  ];
  for (const [text, want] of cases) assertEquals(parseParams(enc(text)), want, text);
  assert(Object.is(parseParams(enc("[-0]"))![0], -0));
  assertEquals(parseParams(new Uint8Array([0x5b, 0xff, 0x5d])), undefined); // not UTF-8
});

Deno.test("sqlite: queries SQLite's program shows return one row at most", () => {
  const db = new DatabaseSync(":memory:");
  db.exec(
    "CREATE TABLE t (k INTEGER PRIMARY KEY, v); CREATE TABLE u (a UNIQUE, b); CREATE TABLE w (x)",
  );
  const one = [
    "SELECT v FROM t WHERE k = ?",
    "SELECT b FROM u WHERE a = ?",
    "SELECT count(*) AS n FROM t",
    "SELECT 1 AS one",
    "SELECT v FROM t WHERE k = ? AND v = 'a'",
  ];
  const many = [
    "SELECT * FROM w",
    "SELECT * FROM w WHERE x = ?",
    "SELECT * FROM t WHERE k IN (1, 2, 3)",
    "SELECT v FROM t WHERE k > ?",
    "SELECT v FROM t WHERE k = ? UNION ALL SELECT v FROM t WHERE k = ?",
    "SELECT v, (SELECT count(*) FROM w) FROM t WHERE k = ?",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "VALUES (1), (2)",
    "PRAGMA journal_mode",
    "EXPLAIN SELECT 1",
    "SELECT nonsense FROM nowhere",
  ];
  for (const q of one) assert(returnsAtMostOneRow(db, q), q);
  for (const q of many) assert(!returnsAtMostOneRow(db, q), q);
  db.close();
});

Deno.test("sqlite: Open, Write with SqlValue params, Query rows as Hyperdrive encodes", async () => {
  const { ctx, send, write, query, cleanup } = await setup();
  try {
    assertEquals(decode((await send(APP, "Open")).body), '"Ok"');
    assertEquals(ctx.capsOf(parseProcessId("app:myapp:pub.os")).map((c) => c.params), [
      '{"kind":"read","db_key":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}',
      '{"kind":"write","db_key":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}',
    ]);
    assertEquals((await write("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")).json, "Ok");
    const ins = "INSERT INTO t (id, v) VALUES (?, ?)";
    const values = [
      "1",
      "1.0",
      "9007199254740993",
      "-0",
      "18446744073709551615",
      '"hello world"',
      '"AAEC"',
      '""',
      "true",
      "null",
      "1e20",
    ];
    for (const [i, v] of values.entries()) {
      assertEquals((await write(ins, `[${i + 1}, ${v}]`)).json, "Ok", v);
    }
    const { r, rows } = await query("SELECT id, v, typeof(v) AS ty FROM t ORDER BY id");
    assertEquals(decode(r.body), '"Read"');
    assertEquals(r.km.lazyLoadBlob?.mime, "application/octet-stream");
    assertEquals(
      rows,
      "[" + [
        '{"id":1,"v":1,"ty":"integer"}',
        '{"id":2,"v":1.0,"ty":"real"}',
        '{"id":3,"v":9007199254740993,"ty":"integer"}',
        '{"id":4,"v":-0.0,"ty":"real"}',
        '{"id":5,"v":1.8446744073709552e19,"ty":"real"}',
        '{"id":6,"v":"hello world","ty":"text"}',
        '{"id":7,"v":"AAEC","ty":"blob"}',
        '{"id":8,"v":"","ty":"blob"}',
        '{"id":9,"v":1,"ty":"integer"}',
        '{"id":10,"v":null,"ty":"null"}',
        '{"id":11,"v":1e20,"ty":"real"}',
      ].join(",") + "]",
    );
    // parameters in queries; duplicate column names collapse to one key
    const q = await query("SELECT id, v AS x, id AS x FROM t WHERE id > ? AND id < ?", "[1, 3]");
    assertEquals(q.rows, '[{"id":2,"x":2}]');
    assertEquals((await query("select count(*) as n from t")).rows, '[{"n":11}]');
    assertEquals((await query("PRAGMA journal_mode")).rows, '[{"journal_mode":"wal"}]');
    const meta = await send(APP, { Query: "SELECT 1 AS one" }, { metadata: "m" });
    assertEquals([meta.metadata, decode(meta.blob)], ["m", '[{"one":1}]']);
  } finally {
    await cleanup();
  }
});

Deno.test("sqlite: caps, keywords, parameters and SQL errors", async () => {
  const { ctx, send, write, query, cleanup } = await setup();
  try {
    await send(APP, "Open");
    await write("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    await write("INSERT INTO t VALUES (1, 'one')");
    assertEquals((await send(OTHER, "Open")).json, { Err: "MismatchingPackageId" });
    assertEquals((await send(OTHER, "RemoveDb")).json, { Err: "MismatchingPackageId" });
    assertEquals((await query("SELECT * FROM t", undefined, OTHER)).r.json, { Err: "NoReadCap" });
    assertEquals((await send(OTHER, { Write: { statement: "DELETE FROM t", tx_id: null } })).json, {
      Err: "NoWriteCap",
    });
    assertEquals((await send(OTHER, "BeginTx")).json, { Err: "NoWriteCap" });
    ctx.grantCapabilities(parseProcessId("other:otherapp:pub.os"), [{
      issuer: SQLITE,
      params: JSON.stringify({ kind: "read", db_key: [PKG, "main"] }),
    }]);
    assertEquals((await query("SELECT v FROM t", undefined, OTHER)).rows, '[{"v":"one"}]');
    assertEquals((await send(OTHER, { Write: { statement: "DELETE FROM t", tx_id: null } })).json, {
      Err: "NoWriteCap",
    });

    assertEquals((await query("DELETE FROM t")).r.json, { Err: "NotAReadKeyword" });
    assertEquals((await query("  ")).r.json, { Err: "NotAReadKeyword" });
    assertEquals((await write("SELECT 1")).json, { Err: "NotAWriteKeyword" });
    assertEquals((await write("\n  insert INTO t VALUES (2, 'two')")).json, "Ok");
    for (const bad of ["{}", "[[1]]", '[{"a":1}]', "not json", "5"]) {
      assertEquals((await query("SELECT ?", bad)).r.json, { Err: "InvalidParameters" }, bad);
      assertEquals((await write("INSERT INTO t VALUES (?, 'x')", bad)).json, {
        Err: "InvalidParameters",
      });
    }
    const syntax = await query("SELECT * FROM nowhere");
    assertEquals(syntax.r.json, { Err: { RusqliteError: "no such table: nowhere" } });
    const dup = await write("INSERT INTO t VALUES (1, 'again')");
    assertEquals(dup.json, { Err: { RusqliteError: "UNIQUE constraint failed: t.id" } });
    // the module keeps serving after all of that
    assertEquals((await query("SELECT count(*) AS n FROM t")).rows, '[{"n":2}]');
  } finally {
    await cleanup();
  }
});

Deno.test("sqlite: transactions commit atomically or not at all", async () => {
  const { send, write, query, cleanup } = await setup();
  try {
    await send(APP, "Open");
    await send(APP, "Open", {}, "second");
    await write("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    const begin = async () =>
      ((await send(APP, "BeginTx")).json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    const tx = await begin();
    for (let i = 1; i <= 20; i++) {
      assertEquals((await write("INSERT INTO t VALUES (?)", `[${i}]`, tx)).json, "Ok");
    }
    assertEquals((await query("SELECT count(*) AS n FROM t")).rows, '[{"n":0}]');
    assertEquals((await send(APP, { Commit: { tx_id: tx } }, {}, "second")).json, {
      Err: { NoTx: tx },
    });
    assertEquals((await send(APP, { Commit: { tx_id: tx } })).json, "Ok");
    assertEquals((await query("SELECT count(*) AS n FROM t")).rows, '[{"n":20}]');
    assertEquals((await send(APP, { Commit: { tx_id: tx } })).json, { Err: { NoTx: tx } });

    // a failing statement rolls the whole transaction back
    const tx2 = await begin();
    await write("INSERT INTO t VALUES (?)", "[100]", tx2);
    await write("INSERT INTO t VALUES (?)", "[1]", tx2); // duplicate key
    const failed = await send(APP, { Commit: { tx_id: tx2 } });
    assertEquals(failed.json, { Err: { RusqliteError: "UNIQUE constraint failed: t.id" } });
    assertEquals((await query("SELECT count(*) AS n FROM t WHERE id = 100")).rows, '[{"n":0}]');
    assertEquals((await write("INSERT INTO t VALUES (?)", "[5]", 12345)).json, {
      Err: { NoTx: 12345 },
    });
    // still usable afterwards
    assertEquals((await write("INSERT INTO t VALUES (?)", "[100]")).json, "Ok");
  } finally {
    await cleanup();
  }
});

Deno.test("sqlite: a query's columns follow the schema, through rollbacks too", async () => {
  const { send, write, query, cleanup } = await setup();
  try {
    await send(APP, "Open");
    await write("CREATE TABLE s (a)");
    await write("INSERT INTO s (a) VALUES (1)");
    const all = async () => (await query("SELECT * FROM s")).rows;
    assertEquals(await all(), '[{"a":1}]');
    await write("ALTER TABLE s ADD COLUMN b");
    assertEquals(await all(), '[{"a":1,"b":null}]');
    await write("ALTER TABLE s RENAME COLUMN a TO c");
    assertEquals(await all(), '[{"c":1,"b":null}]');
    // a column added in a transaction the process opened, then rolled back
    await query("BEGIN");
    await write("ALTER TABLE s ADD COLUMN d");
    assertEquals(await all(), '[{"c":1,"b":null,"d":null}]');
    await write("ROLLBACK");
    assertEquals(await all(), '[{"c":1,"b":null}]');
    // ... and one SQLite rolls back itself, on a conflict resolved by ROLLBACK
    await query("BEGIN");
    await write("ALTER TABLE s ADD COLUMN e");
    assertEquals(await all(), '[{"c":1,"b":null,"e":null}]');
    const conflict = await write("INSERT OR ROLLBACK INTO s (rowid, c) VALUES (1, 0)");
    assertEquals(conflict.json, { Err: { RusqliteError: "UNIQUE constraint failed: s.rowid" } });
    assertEquals(await all(), '[{"c":1,"b":null}]');
  } finally {
    await cleanup();
  }
});

Deno.test("sqlite: WAL files on disk, persistence across restart, RemoveDb and NoDb", async () => {
  const first = await setup();
  const { home } = first;
  try {
    await first.send(APP, "Open");
    await first.write("CREATE TABLE t (v)");
    await first.write("INSERT INTO t VALUES (?)", '["kept"]');
    const file = `${home}/sqlite/myapp:pub.os/main/main.db`;
    assert((await Deno.stat(`${file}-wal`)).isFile);
    await first.mod.shutdown?.();

    // the file is an ordinary SQLite database in WAL mode
    const direct = new DatabaseSync(file);
    assertEquals(direct.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    direct.close();

    const again = await setup(home);
    assertEquals((await again.send(APP, "Open")).json, "Ok");
    assertEquals((await again.query("SELECT v FROM t")).rows, '[{"v":"kept"}]');
    assertEquals((await again.send(APP, "RemoveDb")).json, "Ok");
    assertEquals(
      decode((await again.query("SELECT v FROM t")).r.body),
      '{"Err":{"NoDb":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}}',
    );
    assertEquals((await again.send(APP, "RemoveDb")).json, {
      Err: { IOError: "No such file or directory (os error 2)" },
    });
    await again.mod.shutdown?.();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("sqlite: malformed requests get MalformedRequest, answered even unasked", async () => {
  const { home, ctx, mod, query, send, cleanup } = await setup();
  try {
    await send(APP, "Open");
    for (
      const body of [
        "[",
        JSON.stringify({ package_id: PKG, db: "main", action: { Query: 5 } }),
        JSON.stringify({ package_id: PKG, db: "..", action: "Open" }),
        JSON.stringify({ package_id: PKG, db: "main", action: { Write: { tx_id: null } } }),
        JSON.stringify({ package_id: "myapp:pub.os", db: "main", action: "Open" }),
      ]
    ) {
      const r = await call(ctx, mod, requestKm(APP, SQLITE, body, { expectsResponse: false }));
      assertEquals(r?.json, { Err: "MalformedRequest" }, body);
    }
    assertEquals([...Deno.readDirSync(`${home}/sqlite`)].map((e) => e.name), ["myapp:pub.os"]);
    assertEquals((await query("SELECT 2 AS two")).rows, '[{"two":2}]');
  } finally {
    await cleanup();
  }
});
