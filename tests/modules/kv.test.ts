// kv:distro:sys driven directly through start/handleMessage, on real Deno KV files.

import { assert, assertBytes, assertEquals } from "../assert.ts";
import { KV_PROCESS_ID, parseProcessId } from "../../wire/core.ts";
import { createKvModule } from "../../modules/kv/mod.ts";
import { Mailbox } from "../../kernel/mailbox.ts";
import { call, moduleAddress, OUR, requestKm, type SendOpts, TestCtx } from "./ctx.ts";

const KV = moduleAddress(KV_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;
const OTHER = `${OUR}@other:otherapp:pub.os`;
const PKG = { package_name: "myapp", publisher_node: "pub.os" };

async function setup(home?: string) {
  home ??= await Deno.makeTempDir({ prefix: "hd-kv-" });
  const ctx = new TestCtx(home);
  const kv = createKvModule();
  await kv.start(ctx);
  const send = async (from: string, action: unknown, o: SendOpts = {}, db = "main") => {
    const body = { package_id: PKG, db, action };
    return (await call(ctx, kv, requestKm(from, KV, body, o)))!;
  };
  return { home, ctx, kv, send };
}

const bytes = (n: number, seed = 1) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
const decode = (b?: Uint8Array) => new TextDecoder().decode(b);

Deno.test("kv: Open grants caps; Set/Get/Delete arbitrary bytes with exact JSON", async () => {
  const { home, ctx, kv, send } = await setup();
  try {
    const r = await send(APP, "Open");
    assertEquals(decode(r.body), '"Ok"');
    const caps = ctx.capsOf(parseProcessId("app:myapp:pub.os")).map((c) => c.params);
    assertEquals(caps, [
      '{"kind":"read","db_key":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}',
      '{"kind":"write","db_key":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}',
    ]);
    const key = [0, 1, 2, 255, 0];
    const value = new Uint8Array([0, 0, 9, 255]);
    assertEquals((await send(APP, { Set: { key, tx_id: null } }, { blob: value })).json, "Ok");
    const g = await send(APP, { Get: key });
    assertEquals(decode(g.body), '{"Get":[0,1,2,255,0]}');
    assertEquals(g.blob, value);
    assertEquals(g.km.lazyLoadBlob?.mime, "application/octet-stream");
    // tx_id may also be left out (serde's Option default)
    assertEquals((await send(APP, { Set: { key: [7] } }, { blob: new Uint8Array() })).json, "Ok");
    assertBytes((await send(APP, { Get: [7] })).blob, new Uint8Array());
    assertEquals((await send(APP, { Delete: { key, tx_id: null } })).json, "Ok");
    assertEquals(decode((await send(APP, { Get: key })).body), '{"Err":"KeyNotFound"}');
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: caps, mismatching package, NoDb after RemoveDb", async () => {
  const { home, ctx, kv, send } = await setup();
  try {
    await send(APP, "Open");
    await send(APP, { Set: { key: [1], tx_id: null } }, { blob: new Uint8Array([42]) });
    assertEquals((await send(OTHER, "Open")).json, { Err: "MismatchingPackageId" });
    assertEquals((await send(OTHER, "RemoveDb")).json, { Err: "MismatchingPackageId" });
    assertEquals((await send(OTHER, { Get: [1] })).json, { Err: "NoReadCap" });
    assertEquals((await send(OTHER, { Set: { key: [1], tx_id: null } }, { blob: bytes(1) })).json, {
      Err: "NoWriteCap",
    });
    assertEquals((await send(OTHER, "BeginTx")).json, { Err: "NoWriteCap" });
    ctx.grantCapabilities(parseProcessId("other:otherapp:pub.os"), [{
      issuer: KV,
      params: JSON.stringify({ kind: "read", db_key: [PKG, "main"] }),
    }]);
    assertBytes((await send(OTHER, { Get: [1] })).blob, new Uint8Array([42]));
    assertEquals((await send(OTHER, { Delete: { key: [1], tx_id: null } })).json, {
      Err: "NoWriteCap",
    });

    assertEquals((await send(APP, "RemoveDb")).json, "Ok");
    await Deno.stat(`${home}/kv/myapp:pub.os/main`).then(() => assert(false), () => {});
    assertEquals(
      decode((await send(APP, { Get: [1] })).body),
      '{"Err":{"NoDb":[{"package_name":"myapp","publisher_node":"pub.os"},"main"]}}',
    );
    assertEquals((await send(APP, "RemoveDb")).json, {
      Err: { IOError: "No such file or directory (os error 2)" },
    });
    assertEquals((await send(APP, "Open")).json, "Ok");
    assertEquals((await send(APP, { Get: [1] })).json, { Err: "KeyNotFound" });
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: transactions are atomic and scoped to their db", async () => {
  const { home, ctx, kv, send } = await setup();
  try {
    await send(APP, "Open");
    await send(APP, "Open", {}, "second");
    await send(APP, { Set: { key: [9], tx_id: null } }, { blob: bytes(3) });
    const b = await send(APP, "BeginTx");
    const txId = (b.json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    assert(Number.isSafeInteger(txId));
    assert(/^\{"BeginTx":\{"tx_id":\d+\}\}$/.test(decode(b.body)));
    for (let i = 0; i < 50; i++) {
      const r = await send(APP, { Set: { key: [i, 1], tx_id: txId } }, { blob: bytes(100, i) });
      assertEquals(r.json, "Ok");
    }
    await send(APP, { Delete: { key: [9], tx_id: txId } });
    // nothing visible before commit
    assertEquals((await send(APP, { Get: [3, 1] })).json, { Err: "KeyNotFound" });
    assertBytes((await send(APP, { Get: [9] })).blob, bytes(3));
    // the tx belongs to "main"; "second" cannot use or commit it
    assertEquals(
      (await send(APP, { Set: { key: [1], tx_id: txId } }, { blob: bytes(1) }, "second")).json,
      { Err: { NoTx: txId } },
    );
    assertEquals((await send(APP, { Commit: { tx_id: txId } }, {}, "second")).json, {
      Err: { NoTx: txId },
    });
    assertEquals((await send(APP, { Commit: { tx_id: txId } })).json, "Ok");
    for (const i of [0, 25, 49]) {
      assertBytes((await send(APP, { Get: [i, 1] })).blob, bytes(100, i));
    }
    assertEquals((await send(APP, { Get: [9] })).json, { Err: "KeyNotFound" });
    // committed once only; an id past 2^53 is echoed exactly
    assertEquals((await send(APP, { Commit: { tx_id: txId } })).json, { Err: { NoTx: txId } });
    const raw = `{"package_id":${JSON.stringify(PKG)},"db":"main",` +
      `"action":{"Commit":{"tx_id":18446744073709551615}}}`;
    const big = await call(ctx, kv, requestKm(APP, KV, raw));
    assertEquals(decode(big!.body), '{"Err":{"NoTx":18446744073709551615}}');
    // a transaction beyond one Deno KV commit fails whole, naming the limit
    const t2 = ((await send(APP, "BeginTx")).json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    for (let i = 0; i < 1001; i++) {
      await send(APP, { Set: { key: [2, i >> 8, i & 255], tx_id: t2 } }, { blob: bytes(8) });
    }
    const over = await send(APP, { Commit: { tx_id: t2 } });
    const err = (over.json as { Err: { RocksDBError: string } }).Err.RocksDBError;
    assert(err.includes("max 1000"), err);
    assertEquals((await send(APP, { Get: [2, 0, 0] })).json, { Err: "KeyNotFound" });
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: values and keys beyond Deno KV limits round-trip; chunks collected", async () => {
  const { home, kv, send } = await setup();
  try {
    await send(APP, "Open");
    const set = (key: number[], blob: Uint8Array, tx_id: number | null = null) =>
      send(APP, { Set: { key, tx_id } }, { blob });
    const big = bytes(3 * 1024 * 1024 + 17, 5);
    assertEquals((await set([1], big)).json, "Ok");
    assertBytes((await send(APP, { Get: [1] })).blob, big);
    // large -> small -> large -> deleted
    assertEquals((await set([1], bytes(10))).json, "Ok");
    assertBytes((await send(APP, { Get: [1] })).blob, bytes(10));
    const mid = bytes(65537, 9);
    assertEquals((await set([1], mid)).json, "Ok");
    assertBytes((await send(APP, { Get: [1] })).blob, mid);
    assertEquals((await send(APP, { Delete: { key: [1], tx_id: null } })).json, "Ok");
    assertEquals((await send(APP, { Get: [1] })).json, { Err: "KeyNotFound" });
    // keys past the 2048-byte key limit, including ones that only exceed it once NULs escape
    const longKey = Array.from(bytes(5000, 3));
    const zeroKey = new Array(1500).fill(0);
    assertEquals((await set(longKey, bytes(5))).json, "Ok");
    assertEquals((await set(zeroKey, bytes(6))).json, "Ok");
    assertBytes((await send(APP, { Get: longKey })).blob, bytes(5));
    assertBytes((await send(APP, { Get: zeroKey })).blob, bytes(6));
    // a transaction carrying 12 x 200 KiB (far past one commit's 800 KiB) is still atomic
    const tx = ((await send(APP, "BeginTx")).json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    for (let i = 0; i < 12; i++) await set([3, i], bytes(200 * 1024, i), tx);
    assertEquals((await send(APP, { Commit: { tx_id: tx } })).json, "Ok");
    for (let i = 0; i < 12; i++) {
      assertBytes((await send(APP, { Get: [3, i] })).blob, bytes(200 * 1024, i));
    }
    await kv.shutdown?.();

    // only live chunks remain: 12 x 4 chunks for the tx values, no pending markers
    const raw = await Deno.openKv(`${home}/kv/myapp:pub.os/main/kv.sqlite3`);
    let chunks = 0, pending = 0;
    for await (const _ of raw.list({ prefix: ["c"] })) chunks++;
    for await (const _ of raw.list({ prefix: ["p"] })) pending++;
    assertEquals([chunks, pending], [48, 0]);
    raw.close();
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: data persists across restart; orphaned chunks of a crash are collected", async () => {
  const { home, kv, send } = await setup();
  try {
    await send(APP, "Open");
    await send(APP, { Set: { key: [1], tx_id: null } }, { blob: bytes(300_000) });
    await kv.shutdown?.();
    // what a crash mid-write leaves: a pending marker and some chunks
    const raw = await Deno.openKv(`${home}/kv/myapp:pub.os/main/kv.sqlite3`);
    await raw.set(["p", "deadbeef"], 3);
    await raw.set(["c", "deadbeef", 0], bytes(10));
    await raw.set(["c", "deadbeef", 1], bytes(10));
    raw.close();

    const again = await setup(home);
    try {
      assertEquals((await again.send(APP, "Open")).json, "Ok"); // caps live in the kernel
      assertBytes((await again.send(APP, { Get: [1] })).blob, bytes(300_000));
    } finally {
      await again.kv.shutdown?.();
    }
    const check = await Deno.openKv(`${home}/kv/myapp:pub.os/main/kv.sqlite3`);
    const gens = new Set<string>();
    for await (const e of check.list({ prefix: ["c"] })) gens.add(e.key[1] as string);
    assert(!gens.has("deadbeef"));
    assertEquals(gens.size, 1);
    assertEquals((await check.get(["p", "deadbeef"])).value, null);
    check.close();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: malformed requests get MalformedRequest; module keeps serving", async () => {
  const { home, ctx, kv, send } = await setup();
  try {
    await send(APP, "Open");
    for (
      const body of [
        "{",
        '{"package_id": {"package_name": "myapp"}, "db": "main", "action": "Open"}',
        JSON.stringify({ package_id: PKG, db: "main", action: { Get: [256] } }),
        JSON.stringify({ package_id: PKG, db: "main", action: { Get: "abc" } }),
        JSON.stringify({ package_id: PKG, db: "../../etc", action: "Open" }),
        JSON.stringify({ package_id: PKG, db: "a/b", action: "Open" }),
        JSON.stringify({ package_id: PKG, db: "main", action: "Explode" }),
      ]
    ) {
      // kv answers errors even when no response was asked for, as Hyperdrive does
      const r = await call(ctx, kv, requestKm(APP, KV, body, { expectsResponse: false }));
      assertEquals(r?.json, { Err: "MalformedRequest" }, body);
    }
    assertEquals((await send(APP, { Set: { key: [1], tx_id: null } })).json, {
      Err: "MalformedRequest",
    });
    assertEquals([...Deno.readDirSync(`${home}/kv`)].map((e) => e.name), ["myapp:pub.os"]);
    const ok = await send(APP, { Set: { key: [1], tx_id: null } }, {
      blob: bytes(1),
      metadata: "meta",
    });
    assertEquals([ok.json, ok.metadata], ["Ok", "meta"]);
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: lanes: two processes' requests interleave; one process's stay in order", async () => {
  const { home, ctx, kv, send } = await setup();
  const errors: unknown[] = [];
  const box = new Mailbox(kv, (e) => errors.push(e));
  try {
    await send(APP, "Open");
    await send(APP, { Set: { key: [2], tx_id: null } }, { blob: bytes(10, 2) });
    ctx.grantCapabilities(parseProcessId("other:otherapp:pub.os"), [{
      issuer: KV,
      params: JSON.stringify({ kind: "read", db_key: [PKG, "main"] }),
    }]);
    const enqueue = (from: string, action: unknown, blob?: Uint8Array) => {
      const km = requestKm(from, KV, { package_id: PKG, db: "main", action }, { blob });
      box.enqueue(km);
      return km.id;
    };
    const big = bytes(3 * 1024 * 1024, 7);
    const small = bytes(5, 8);
    const a1 = enqueue(APP, { Set: { key: [1], tx_id: null } }, big); // slow: many chunks
    const a2 = enqueue(APP, { Set: { key: [1], tx_id: null } }, small);
    const a3 = enqueue(APP, { Get: [1] });
    const o1 = enqueue(OTHER, { Get: [2] });
    const o2 = enqueue(OTHER, { Get: [1] });
    await box.idle();
    assertEquals(errors, []);
    const order = ctx.sent.map((m) => m.id);
    const at = (id: bigint) => {
      const i = order.indexOf(id);
      assert(i >= 0, `no answer to ${id}`);
      return i;
    };
    // the other process did not wait behind the slow write on the same db
    assert(at(o1) < at(a1), `order ${[a1, a2, a3, o1, o2].map(at)}`);
    // one process's requests are handled, and answered, in the order it sent them
    assert(at(a1) < at(a2) && at(a2) < at(a3), `order ${[a1, a2, a3].map(at)}`);
    assert(at(o1) < at(o2));
    const get = ctx.sent[at(a3)];
    assertEquals(
      decode(get.message.tag === "response" ? get.message.val[0].body : undefined),
      '{"Get":[1]}',
    );
    assertBytes(get.lazyLoadBlob?.bytes, small);
    assertBytes(ctx.sent[at(o1)].lazyLoadBlob?.bytes, bytes(10, 2));
    // OTHER's read of key 1 raced APP's writes: it saw one whole value, never a torn one
    const seen = ctx.sent[at(o2)].lazyLoadBlob?.bytes;
    assert(seen === undefined || seen.length === big.length || seen.length === small.length);
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("kv: the LRU never closes a store a request is using", async () => {
  const home = await Deno.makeTempDir({ prefix: "hd-kv-" });
  const ctx = new TestCtx(home);
  const kv = createKvModule({ maxOpenDbs: 1 });
  await kv.start(ctx);
  const errors: unknown[] = [];
  const box = new Mailbox(kv, (e) => errors.push(e));
  try {
    const other = { package_name: "otherapp", publisher_node: "pub.os" };
    const enqueue = (
      from: string,
      pkg: unknown,
      db: string,
      action: unknown,
      blob?: Uint8Array,
    ) => {
      const km = requestKm(from, KV, { package_id: pkg, db, action }, { blob });
      box.enqueue(km);
      return km.id;
    };
    enqueue(APP, PKG, "a", "Open");
    await box.idle();
    const big = bytes(2 * 1024 * 1024, 3);
    // while APP's slow write holds store "a", OTHER opens "b" and "c" past the limit of one
    const ids = [enqueue(APP, PKG, "a", { Set: { key: [1], tx_id: null } }, big)];
    for (const db of ["b", "c"]) {
      ids.push(enqueue(OTHER, other, db, "Open"));
      ids.push(enqueue(OTHER, other, db, { Set: { key: [1], tx_id: null } }, bytes(4)));
    }
    ids.push(enqueue(APP, PKG, "a", { Get: [1] }));
    await box.idle();
    assertEquals(errors, []);
    const answers = new Map(ctx.sent.map((m) => [m.id, m]));
    const bodies = ids.map((id) => {
      const m = answers.get(id);
      return m?.message.tag === "response" ? decode(m.message.val[0].body) : undefined;
    });
    assertEquals(bodies, ['"Ok"', '"Ok"', '"Ok"', '"Ok"', '"Ok"', '{"Get":[1]}']);
    assertBytes(answers.get(ids[5])!.lazyLoadBlob?.bytes, big);
  } finally {
    await kv.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});
