// Storage modules in a booted node, used by real processes sending the exact JSON
// bodies a Hyperdrive app sends, and by node.request (root authority).

import { assert, assertBytes, assertEquals } from "../assert.ts";
import { createHash } from "node:crypto";
import {
  appBatch,
  appCall,
  bootStorageNode,
  type StorageNode,
  writeStoragePackage,
} from "./node_helpers.ts";

const APP = "our@app:storage:test.os";
const OTHER = "our@app:other:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b?: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array());

async function withNode(fn: (n: StorageNode, root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "hd-storage-node-" });
  const n = await bootStorageNode(`${root}/home`);
  try {
    await n.node.installPackage(await writeStoragePackage(root));
    await fn(n, root);
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("node: a process uses vfs with Hyperdrive's bodies", async () => {
  await withNode(async ({ node }) => {
    const d = "/storage:test.os/files";
    const content = enc("hello from a process");
    const r = await appBatch(node, APP, [
      { target: "vfs:distro:sys", body: { path: d, action: "CreateDrive" } },
      { target: "vfs:distro:sys", body: { path: `${d}/a.txt`, action: "Write" }, blob: content },
      { target: "vfs:distro:sys", body: { path: `${d}/a.txt`, action: "Read" } },
      { target: "vfs:distro:sys", body: { path: `${d}/a.txt`, action: "Hash" } },
      { target: "vfs:distro:sys", body: { path: `${d}/a.txt`, action: { Seek: { End: -7 } } } },
      { target: "vfs:distro:sys", body: { path: `${d}/a.txt`, action: "ReadToString" } },
      { target: "vfs:distro:sys", body: { path: "/storage:test.os/pkg", action: "ReadDir" } },
      { target: "vfs:distro:sys", body: { path: `${d}/nope`, action: "Read" } },
    ]);
    assertEquals(r.map((x) => x.text).slice(0, 2), ['"Ok"', '"Ok"']);
    assertEquals([r[2].text, dec(r[2].blob), r[2].mime], [
      '"Read"',
      "hello from a process",
      "application/octet-stream",
    ]);
    assertEquals(r[3].json, {
      Hash: Array.from(createHash("sha256").update(content).digest()),
    });
    assertEquals(r[4].text, `{"SeekFrom":{"new_offset":${content.length - 7}}}`);
    assertEquals(r[5].json, { ReadToString: "process" });
    const listed = (r[6].json as { ReadDir: { path: string; file_type: string }[] }).ReadDir
      .map((e) => `${e.path} ${e.file_type}`).sort();
    assertEquals(listed, [
      "storage:test.os/pkg/manifest.json File",
      "storage:test.os/pkg/storage_app.js File",
    ]);
    assertEquals(r[7].text, '{"Err":{"IOError":"No such file or directory (os error 2)"}}');
  });
});

Deno.test("node: a process uses kv and sqlite with Hyperdrive's bodies", async () => {
  await withNode(async ({ node }) => {
    const kv = (action: unknown, blob?: Uint8Array) => ({
      target: "kv:distro:sys",
      body: { package_id: PKG, db: "app", action },
      blob,
    });
    const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 255);
    const r = await appBatch(node, APP, [
      kv("Open"),
      kv({ Set: { key: [1, 2, 3], tx_id: null } }, enc("v1")),
      kv({ Get: [1, 2, 3] }),
      kv({ Get: [9] }),
      kv({ Set: { key: [4], tx_id: null } }, big),
      kv({ Get: [4] }),
    ]);
    assertEquals(r.map((x) => x.text), [
      '"Ok"',
      '"Ok"',
      '{"Get":[1,2,3]}',
      '{"Err":"KeyNotFound"}',
      '"Ok"',
      '{"Get":[4]}',
    ]);
    assertEquals(dec(r[2].blob), "v1");
    assertBytes(r[5].blob!, big);

    const begin = await appCall(node, APP, kv("BeginTx"));
    const txId = (begin.json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    const t = await appBatch(node, APP, [
      kv({ Set: { key: [5], tx_id: txId } }, enc("five")),
      kv({ Delete: { key: [1, 2, 3], tx_id: txId } }),
      kv({ Get: [5] }),
      kv({ Commit: { tx_id: txId } }),
      kv({ Get: [5] }),
      kv({ Get: [1, 2, 3] }),
    ]);
    assertEquals(t.map((x) => x.text), [
      '"Ok"',
      '"Ok"',
      '{"Err":"KeyNotFound"}',
      '"Ok"',
      '{"Get":[5]}',
      '{"Err":"KeyNotFound"}',
    ]);

    const sql = (action: unknown, params?: unknown[]) => ({
      target: "sqlite:distro:sys",
      body: { package_id: PKG, db: "app", action },
      blob: params ? enc(JSON.stringify(params)) : undefined,
    });
    const s = await appBatch(node, APP, [
      sql("Open"),
      sql({
        Write: { statement: "CREATE TABLE users (id INTEGER, name TEXT, score REAL)", tx_id: null },
      }),
      sql({ Write: { statement: "INSERT INTO users VALUES (?, ?, ?)", tx_id: null } }, [
        1,
        "ada lovelace",
        9.5,
      ]),
      sql({ Query: "SELECT * FROM users WHERE id = ?" }, [1]),
      sql({ Query: "DROP TABLE users" }),
    ]);
    assertEquals(s.map((x) => x.text), [
      '"Ok"',
      '"Ok"',
      '"Ok"',
      '"Read"',
      '{"Err":"NotAReadKeyword"}',
    ]);
    assertEquals(dec(s[3].blob), '[{"id":1,"name":"ada lovelace","score":9.5}]');
  });
});

Deno.test("node: timer answers a process after the duration", async () => {
  await withNode(async ({ node }) => {
    const t0 = performance.now();
    const r = await appCall(node, APP, { target: "timer:distro:sys", body: { SetTimer: 150 } });
    const elapsed = performance.now() - t0;
    assertEquals([r.text, r.blob], ["", null]);
    assert(elapsed >= 148, `answered after ${elapsed}ms`);
  });
});

Deno.test("node: root authority via node.request; other packages are refused", async () => {
  await withNode(async ({ node }, root) => {
    await node.installPackage(await writeStoragePackage(root, "other"));
    await appBatch(node, APP, [
      { target: "vfs:distro:sys", body: { path: "/storage:test.os/files", action: "CreateDrive" } },
      {
        target: "vfs:distro:sys",
        body: { path: "/storage:test.os/files/secret", action: "Write" },
        blob: enc("secret"),
      },
      { target: "kv:distro:sys", body: { package_id: PKG, db: "app", action: "Open" } },
      {
        target: "kv:distro:sys",
        body: { package_id: PKG, db: "app", action: { Set: { key: [1], tx_id: null } } },
        blob: enc("kv secret"),
      },
      { target: "sqlite:distro:sys", body: { package_id: PKG, db: "app", action: "Open" } },
    ]);

    const o = await appBatch(node, OTHER, [
      { target: "vfs:distro:sys", body: { path: "/storage:test.os/files/secret", action: "Read" } },
      {
        target: "vfs:distro:sys",
        body: { path: "/storage:test.os/files/secret", action: "Write" },
        blob: enc("overwritten"),
      },
      {
        target: "vfs:distro:sys",
        body: { path: "/other:test.os/tmp/../../storage:test.os/files/secret", action: "Read" },
      },
      { target: "kv:distro:sys", body: { package_id: PKG, db: "app", action: { Get: [1] } } },
      { target: "kv:distro:sys", body: { package_id: PKG, db: "app", action: "Open" } },
      { target: "kv:distro:sys", body: { package_id: PKG, db: "app", action: "RemoveDb" } },
      {
        target: "sqlite:distro:sys",
        body: { package_id: PKG, db: "app", action: { Query: "SELECT 1" } },
      },
      { target: "sqlite:distro:sys", body: { package_id: PKG, db: "app", action: "Open" } },
      { target: "vfs:distro:sys", body: { path: "/", action: "ReadDir" } },
    ]);
    assertEquals(o.map((x) => x.json), [
      { Err: "NoReadCap" },
      { Err: "NoWriteCap" },
      // `..` resolves into storage's drive, and the caps are those of that drive
      { Err: "NoReadCap" },
      { Err: "NoReadCap" },
      { Err: "MismatchingPackageId" },
      { Err: "MismatchingPackageId" },
      { Err: "NoReadCap" },
      { Err: "MismatchingPackageId" },
      { Err: "NoReadCap" },
    ]);

    // node.request speaks as the kernel: root authority over every store
    const ls = await node.request(
      "our@vfs:distro:sys",
      JSON.stringify({ path: "/", action: "ReadDir" }),
    );
    const names = (JSON.parse(dec(ls.body)).ReadDir as { path: string }[]).map((e) => e.path)
      .sort();
    assertEquals(names, ["other:test.os", "storage:test.os"]);
    const file = await node.request(
      "our@vfs:distro:sys",
      JSON.stringify({ path: "/storage:test.os/files/secret", action: "Read" }),
    );
    assertEquals(dec(file.blob?.bytes), "secret");
    const kvGet = await node.request(
      "our@kv:distro:sys",
      JSON.stringify({ package_id: PKG, db: "app", action: { Get: [1] } }),
    );
    assertEquals([dec(kvGet.body), dec(kvGet.blob?.bytes)], ['{"Get":[1]}', "kv secret"]);
    const q = await node.request(
      "our@sqlite:distro:sys",
      JSON.stringify({ package_id: PKG, db: "app", action: { Query: "PRAGMA journal_mode" } }),
    );
    assertEquals(dec(q.blob?.bytes), '[{"journal_mode":"wal"}]');
  });
});

Deno.test("node: malformed bodies get the module's error and it keeps serving", async () => {
  await withNode(async ({ node }) => {
    const r = await appBatch(node, APP, [
      { target: "vfs:distro:sys", body: "{not json" },
      { target: "kv:distro:sys", body: '{"package_id": 5}' },
      { target: "sqlite:distro:sys", body: "[]" },
      { target: "vfs:distro:sys", body: { path: "/storage:test.os/tmp/x", action: "Append" } },
      { target: "kv:distro:sys", body: { package_id: PKG, db: "m", action: "Open" } },
      {
        target: "kv:distro:sys",
        body: { package_id: PKG, db: "m", action: { Set: { key: [1], tx_id: null } } },
      },
      { target: "sqlite:distro:sys", body: { package_id: PKG, db: "m", action: "Open" } },
      {
        target: "sqlite:distro:sys",
        body: { package_id: PKG, db: "m", action: { Query: "SELECT ?" } },
        blob: enc("{oops"),
      },
      {
        target: "vfs:distro:sys",
        body: { path: "/storage:test.os/tmp/x", action: "Write" },
        blob: enc("fine"),
      },
      {
        target: "sqlite:distro:sys",
        body: { package_id: PKG, db: "m", action: { Query: "SELECT ? AS v" } },
        blob: enc('["fine"]'),
      },
    ]);
    assertEquals(r.map((x) => x.text), [
      '{"Err":"MalformedRequest"}',
      '{"Err":"MalformedRequest"}',
      '{"Err":"MalformedRequest"}',
      '{"Err":"NoBlob"}',
      '"Ok"',
      '{"Err":"MalformedRequest"}',
      '"Ok"',
      '{"Err":"InvalidParameters"}',
      '"Ok"',
      '"Read"',
    ]);
    assertEquals(dec(r[9].blob), '[{"v":"fine"}]');
  });
});

Deno.test("node: the storage bench's pairs, built and checked by the process itself", async () => {
  await withNode(async ({ node }) => {
    const db = (action: unknown) => ({ package_id: PKG, db: "pairs", action });
    await appBatch(node, APP, [
      { target: "kv:distro:sys", body: db("Open") },
      { target: "sqlite:distro:sys", body: db("Open") },
      {
        target: "sqlite:distro:sys",
        body: db({
          Write: { statement: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)", tx_id: null },
        }),
      },
    ]);
    for (const op of ["kv-pairs", "sqlite-pairs"]) {
      const res = await node.request(APP, JSON.stringify({ op, db: "pairs", from: 5, n: 3 }));
      assertEquals(JSON.parse(dec(res.body)), { ok: 3 });
    }
    // what the pairs wrote is there for anyone else with the caps to read
    const [kv, rows] = await appBatch(node, APP, [
      { target: "kv:distro:sys", body: db({ Get: Array.from(enc("p7")) }) },
      { target: "sqlite:distro:sys", body: db({ Query: "SELECT k FROM t" }) },
    ]);
    assertEquals(kv.blob, new Uint8Array(100).fill(7));
    assertEquals(rows.json, "Read");
    assertEquals(JSON.parse(dec(rows.blob)), [{ k: 5 }, { k: 6 }, { k: 7 }]);
    // a failing pair is reported, not hung: the kv database was never opened for this one
    const bad = await node.request(
      APP,
      JSON.stringify({ op: "kv-pairs", db: "nope", from: 1, n: 1 }),
    );
    assert(JSON.parse(dec(bad.body)).error, "a refused Set ends the pairs with an error");
  });
});
