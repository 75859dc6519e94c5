// The floors of the storage modules' process paths as they are built (a process Worker
// writes a request and rings the module's Worker, which runs it and answers the process
// directly), with none of the runtime's code in them: two bare Workers and a
// SharedArrayBuffer. For kv and for sqlite:
//   structure: the request is an op code and a key number, the answer a counter;
//   protocol: what any client and server of Hyperware's kv or sqlite API must do per request
//     on this shape: the app builds the request's JSON as process_lib does
//     ({"package_id":..,"db":..,"action":{"Set":{"key":[..],"tx_id":null}}}, or a Write or
//     Query with its parameters' JSON as the blob) with the value as the blob; the module
//     parses it and answers with its JSON ("Ok", {"Get":[..]}, "Read") and the value or the
//     rows' JSON; the app parses and checks that. The bytes are copied through shared memory;
//     no message envelope, ids, caps, limits or timeouts.
// The process waits for each answer in Atomics.wait, as a process does; kv's Worker waits
// for requests in Atomics.waitAsync, as kv's does (Deno KV is async), a db Worker in
// Atomics.wait, as sqlite's do (node:sqlite is synchronous).

// ctl words: 0 bell (requests), 1 answers, 2 body length, 3 blob length, 4 op (1 pairs of
// the structure, 2 of the protocol, 9 stop), 5 answer body length, 6 answer blob length
const BODY = 64;
const BLOB = 32 * 1024;

/** What both module Workers share: writing an answer into shared memory and waking the app. */
const MODULE_PRELUDE = `
const dec = new TextDecoder();
const enc = new TextEncoder();
function reply(s, bytes, answer, out) {
  bytes.set(answer, ${BODY});
  Atomics.store(s, 5, answer.length);
  if (out) bytes.set(out, ${BLOB});
  Atomics.store(s, 6, out ? out.length : 0);
}
function answered(s) {
  Atomics.add(s, 1, 1);
  Atomics.notify(s, 1);
}`;

const KV_WORKER = `${MODULE_PRELUDE}
self.onmessage = async (e) => {
  const s = new Int32Array(e.data.sab, 0, 16);
  const bytes = new Uint8Array(e.data.sab);
  const kv = await Deno.openKv(e.data.file);
  const value = new Uint8Array(100).fill(7);
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    while (Atomics.load(s, 0) === seen) await Atomics.waitAsync(s, 0, seen).value;
    seen = Atomics.load(s, 0);
    const op = Atomics.load(s, 4);
    if (op === 9) break;
    if (op === 1) {
      // structure: [2] key number, [3] 1 set / 2 get
      const k = Atomics.load(s, 2);
      if (Atomics.load(s, 3) === 1) await kv.set(["k", k], value);
      else await kv.get(["k", k]);
    } else {
      const req = JSON.parse(dec.decode(bytes.slice(${BODY}, ${BODY} + Atomics.load(s, 2))));
      const a = req.action;
      let answer;
      let out;
      if (a.Set) {
        const blob = bytes.slice(${BLOB}, ${BLOB} + Atomics.load(s, 3));
        await kv.set(["k", new Uint8Array(a.Set.key)], blob);
        answer = enc.encode('"Ok"');
      } else {
        const got = await kv.get(["k", new Uint8Array(a.Get)]);
        answer = enc.encode('{"Get":[' + a.Get.join(",") + "]}");
        out = got.value;
      }
      reply(s, bytes, answer, out);
    }
    answered(s);
  }
  kv.close();
  self.postMessage("closed");
};`;

/**
 * A db Worker's database for the benches' pairs, as the direct path's (WAL; table t), in a
 * Worker's source where `e.data.file` names it: `db`, `insert` and `select`.
 */
export const SQLITE_BENCH_DB = `
  const db = new DatabaseSync(e.data.file);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)");
  const insert = db.prepare("INSERT INTO t (k, v) VALUES (?, ?)");
  const select = db.prepare("SELECT v FROM t WHERE k = ?");`;

// node:sqlite is synchronous: a db Worker parks in Atomics.wait, as sqlite's own do
const SQLITE_WORKER = `
import { DatabaseSync } from "node:sqlite";
${MODULE_PRELUDE}
self.onmessage = (e) => {
  const s = new Int32Array(e.data.sab, 0, 16);
  const bytes = new Uint8Array(e.data.sab);
${SQLITE_BENCH_DB}
  const statements = new Map();
  const statement = (sql) => {
    let st = statements.get(sql);
    if (!st) statements.set(sql, (st = db.prepare(sql)));
    return st;
  };
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    while (Atomics.load(s, 0) === seen) Atomics.wait(s, 0, seen);
    seen = Atomics.load(s, 0);
    const op = Atomics.load(s, 4);
    if (op === 9) break;
    if (op === 1) {
      // structure: [2] key number, [3] 1 insert / 2 select
      const k = Atomics.load(s, 2);
      if (Atomics.load(s, 3) === 1) insert.run(k, "value");
      else select.get(k);
    } else {
      const req = JSON.parse(dec.decode(bytes.slice(${BODY}, ${BODY} + Atomics.load(s, 2))));
      const params = JSON.parse(dec.decode(bytes.slice(${BLOB}, ${BLOB} + Atomics.load(s, 3))));
      const a = req.action;
      let answer;
      let out;
      if (a.Write) {
        statement(a.Write.statement).run(...params);
        answer = enc.encode('"Ok"');
      } else {
        out = enc.encode(JSON.stringify(statement(a.Query).all(...params)));
        answer = enc.encode('"Read"');
      }
      reply(s, bytes, answer, out);
    }
    answered(s);
  }
  db.close();
  self.postMessage("closed");
};`;

/**
 * The app's Worker: its requests as process_lib builds them; `pair` runs one set+get or
 * insert+select for `i`.
 */
const appWorker = (setup: string, pair: string) => `
const dec = new TextDecoder();
const enc = new TextEncoder();
const PKG = { package_name: "storage", publisher_node: "test.os" };
${setup}
self.onmessage = (e) => {
  const { sab, protocol, from, n } = e.data;
  const s = new Int32Array(sab, 0, 16);
  const bytes = new Uint8Array(sab);
  function ask(action, blob) {
    const body = enc.encode(JSON.stringify({ package_id: PKG, db: "bench", action }));
    bytes.set(body, ${BODY});
    Atomics.store(s, 2, body.length);
    if (blob) bytes.set(blob, ${BLOB});
    Atomics.store(s, 3, blob ? blob.length : 0);
    return call();
  }
  function call() {
    const before = Atomics.load(s, 1);
    Atomics.add(s, 0, 1);
    Atomics.notify(s, 0);
    while (Atomics.load(s, 1) === before) Atomics.wait(s, 1, before);
    if (!protocol) return;
    const answer = JSON.parse(dec.decode(bytes.slice(${BODY}, ${BODY} + Atomics.load(s, 5))));
    const blobLen = Atomics.load(s, 6);
    return { answer, blob: blobLen > 0 ? bytes.slice(${BLOB}, ${BLOB} + blobLen) : undefined };
  }
  Atomics.store(s, 4, protocol ? 2 : 1);
  for (let i = from; i < from + n; i++) {
    if (protocol) {
      ${pair}
    } else {
      Atomics.store(s, 2, i);
      Atomics.store(s, 3, 1);
      call();
      Atomics.store(s, 3, 2);
      call();
    }
  }
  self.postMessage(n);
};`;

const KV_APP = appWorker(
  "const VALUE = new Uint8Array(100).fill(7);",
  `
      const key = Array.from(enc.encode("p" + i));
      if (ask({ Set: { key, tx_id: null } }, VALUE).answer !== "Ok") throw new Error("set");
      const got = ask({ Get: key });
      if (got.answer.Get === undefined || got.blob?.length !== VALUE.length) throw new Error("get");`,
);

const SQLITE_APP = appWorker(
  `const insert = { Write: { statement: "INSERT INTO t (k, v) VALUES (?, ?)", tx_id: null } };
const select = { Query: "SELECT v FROM t WHERE k = ?" };`,
  `
      if (ask(insert, enc.encode(JSON.stringify([i, "value"]))).answer !== "Ok") {
        throw new Error("insert");
      }
      const got = ask(select, enc.encode("[" + i + "]"));
      if (got.answer !== "Read") throw new Error("select");
      const rows = JSON.parse(dec.decode(got.blob));
      if (rows.length !== 1 || rows[0].v !== "value") throw new Error("rows");`,
);

const url = (src: string) =>
  URL.createObjectURL(new Blob([src], { type: "application/javascript" }));

/**
 * A storage module's process path with none of the runtime's code: `pairs(protocol, from, n)`
 * runs n pairs.
 */
async function channelFloor(module: string, app: string, file: string) {
  const sab = new SharedArrayBuffer(64 * 1024);
  const s = new Int32Array(sab, 0, 16);
  const server = new Worker(url(module), { type: "module" });
  await new Promise((r) => {
    server.onmessage = r;
    server.postMessage({ sab, file });
  });
  const client = new Worker(url(app), { type: "module" });
  let done: (() => void) | undefined;
  let failed: ((e: unknown) => void) | undefined;
  client.onmessage = () => done?.();
  client.onerror = (e) => {
    e.preventDefault();
    failed?.(new Error(`channel floor: ${e.message}`));
  };
  return {
    pairs(protocol: boolean, from: number, n: number): Promise<void> {
      return new Promise((resolve, reject) => {
        done = resolve;
        failed = reject;
        client.postMessage({ sab, protocol, from, n });
      });
    },
    async close() {
      client.terminate();
      const closed = new Promise((r) => (server.onmessage = r));
      Atomics.store(s, 4, 9);
      Atomics.add(s, 0, 1);
      Atomics.notify(s, 0);
      await closed;
      server.terminate();
    },
  };
}

/** One storage kind's channel floor, running. */
export type ChannelFloor = Awaited<ReturnType<typeof channelFloor>>;

/** kv's process path with none of the runtime's code (Deno KV in `file`): set+get pairs. */
export const kvChannelFloor = (file: string) => channelFloor(KV_WORKER, KV_APP, file);

/** sqlite's process path with none of the runtime's code (a database in `file`). */
export const sqliteChannelFloor = (file: string) => channelFloor(SQLITE_WORKER, SQLITE_APP, file);
