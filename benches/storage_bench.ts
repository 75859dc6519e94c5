// Storage throughput: kv set+get and sqlite insert+select through the message path,
// against Deno KV and node:sqlite called directly, in the same run.
//   deno bench -A benches/storage_bench.ts
// Groups (each with the direct call as baseline):
//   kv / sqlite:                 one set+get (insert+select) per iteration, sent with
//                                node.request (kernel -> module -> kernel)
//   sqlite-select:               one select of a stored row: no commit, so no fsync; the
//                                message path's own cost (incl. the db Worker round trip)
//   kv-process / sqlite-process: 20 pairs per iteration, sent by a real process
//                                (Worker -> kernel -> module -> kernel -> Worker)

import { DatabaseSync } from "node:sqlite";
import { appBatch, bootStorageNode, writeStoragePackage } from "../tests/modules/node_helpers.ts";

const root = await Deno.makeTempDir({ prefix: "hd-storage-bench-" });
const n = await bootStorageNode(`${root}/home`);
await n.node.installPackage(await writeStoragePackage(root));
const APP = "our@app:storage:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const enc = new TextEncoder();
const dec = new TextDecoder();
const value = new Uint8Array(100).fill(7);
const BATCH = 20;

// --- direct baselines, same settings as the modules (Deno KV file; SQLite in WAL) ---
const kvDirect = await Deno.openKv(`${root}/direct.kv`);
const sqlDirect = new DatabaseSync(`${root}/direct.db`);
sqlDirect.exec("PRAGMA journal_mode=WAL");
sqlDirect.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
const insertDirect = sqlDirect.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
const selectDirect = sqlDirect.prepare("SELECT v FROM t WHERE k = ?");

// --- the same databases behind kv:distro:sys and sqlite:distro:sys ---
const kvBody = (action: unknown) => JSON.stringify({ package_id: PKG, db: "bench", action });
const sqlBody = (action: unknown) => JSON.stringify({ package_id: PKG, db: "bench", action });
await n.node.request("our@kv:distro:sys", kvBody("Open"));
await n.node.request("our@sqlite:distro:sys", sqlBody("Open"));
await n.node.request(
  "our@sqlite:distro:sys",
  sqlBody({ Write: { statement: "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)", tx_id: null } }),
);
await appBatch(n.node, APP, [
  { target: "kv:distro:sys", body: { package_id: PKG, db: "bench", action: "Open" } },
  { target: "sqlite:distro:sys", body: { package_id: PKG, db: "bench", action: "Open" } },
]);

insertDirect.run(0, "value");
await n.node.request(
  "our@sqlite:distro:sys",
  sqlBody({ Write: { statement: "INSERT INTO t (k, v) VALUES (0, 'value')", tx_id: null } }),
);
let seq = 1;
const INSERT = "INSERT INTO t (k, v) VALUES (?, ?)";
const SELECT = "SELECT v FROM t WHERE k = ?";

function expect(ok: boolean, what: string) {
  if (!ok) throw new Error(`bench: unexpected answer to ${what}`);
}

Deno.bench({
  name: "kv set+get: Deno KV directly",
  group: "kv",
  baseline: true,
  async fn() {
    const key = ["k", seq++];
    await kvDirect.set(key, value);
    expect((await kvDirect.get(key)).value !== null, "direct get");
  },
});

Deno.bench({
  name: "kv set+get: kv:distro:sys via node.request",
  group: "kv",
  async fn() {
    const key = Array.from(enc.encode(`k${seq++}`));
    await n.node.request("our@kv:distro:sys", kvBody({ Set: { key, tx_id: null } }), {
      blob: value,
    });
    const r = await n.node.request("our@kv:distro:sys", kvBody({ Get: key }));
    expect(r.blob?.bytes.length === value.length, "kv get");
  },
});

Deno.bench({
  name: "sqlite insert+select: node:sqlite directly",
  group: "sqlite",
  baseline: true,
  fn() {
    const k = seq++;
    insertDirect.run(k, "value");
    expect(selectDirect.get(k) !== undefined, "direct select");
  },
});

Deno.bench({
  name: "sqlite insert+select: sqlite:distro:sys via node.request",
  group: "sqlite",
  async fn() {
    const k = seq++;
    await n.node.request(
      "our@sqlite:distro:sys",
      sqlBody({ Write: { statement: INSERT, tx_id: null } }),
      {
        blob: enc.encode(`[${k}, "value"]`),
      },
    );
    const r = await n.node.request("our@sqlite:distro:sys", sqlBody({ Query: SELECT }), {
      blob: enc.encode(`[${k}]`),
    });
    expect(dec.decode(r.blob?.bytes) === '[{"v":"value"}]', "sqlite select");
  },
});

Deno.bench({
  name: "sqlite select: node:sqlite directly",
  group: "sqlite-select",
  baseline: true,
  fn() {
    expect(selectDirect.get(0) !== undefined, "direct select");
  },
});

Deno.bench({
  name: "sqlite select: sqlite:distro:sys via node.request",
  group: "sqlite-select",
  async fn() {
    const r = await n.node.request("our@sqlite:distro:sys", sqlBody({ Query: SELECT }), {
      blob: enc.encode("[0]"),
    });
    expect(dec.decode(r.blob?.bytes) === '[{"v":"value"}]', "sqlite select");
  },
});

Deno.bench({
  name: `kv ${BATCH} x set+get: Deno KV directly`,
  group: "kv-process",
  baseline: true,
  async fn() {
    for (let i = 0; i < BATCH; i++) {
      const key = ["k", seq++];
      await kvDirect.set(key, value);
      expect((await kvDirect.get(key)).value !== null, "direct get");
    }
  },
});

Deno.bench({
  name: `kv ${BATCH} x set+get: sent by a process`,
  group: "kv-process",
  async fn() {
    const calls = [];
    for (let i = 0; i < BATCH; i++) {
      const key = Array.from(enc.encode(`p${seq++}`));
      const body = (action: unknown) => ({ package_id: PKG, db: "bench", action });
      calls.push({
        target: "kv:distro:sys",
        body: body({ Set: { key, tx_id: null } }),
        blob: value,
      });
      calls.push({ target: "kv:distro:sys", body: body({ Get: key }) });
    }
    const r = await appBatch(n.node, APP, calls);
    expect(r[r.length - 1].blob?.length === value.length, "process kv get");
  },
});

Deno.bench({
  name: `sqlite ${BATCH} x insert+select: node:sqlite directly`,
  group: "sqlite-process",
  baseline: true,
  fn() {
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      insertDirect.run(k, "value");
      expect(selectDirect.get(k) !== undefined, "direct select");
    }
  },
});

Deno.bench({
  name: `sqlite ${BATCH} x insert+select: sent by a process`,
  group: "sqlite-process",
  async fn() {
    const calls = [];
    for (let i = 0; i < BATCH; i++) {
      const k = seq++;
      const body = (action: unknown) => ({ package_id: PKG, db: "bench", action });
      calls.push({
        target: "sqlite:distro:sys",
        body: body({ Write: { statement: INSERT, tx_id: null } }),
        blob: enc.encode(`[${k}, "value"]`),
      });
      calls.push({
        target: "sqlite:distro:sys",
        body: body({ Query: SELECT }),
        blob: enc.encode(`[${k}]`),
      });
    }
    const r = await appBatch(n.node, APP, calls);
    expect(r[r.length - 1].text === '"Read"', "process sqlite select");
  },
});

globalThis.addEventListener("unload", () => {
  // the runner exits right after; the node's handles die with it
  kvDirect.close();
  sqlDirect.close();
  Deno.removeSync(root, { recursive: true });
});
