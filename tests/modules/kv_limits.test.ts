// kv:distro:sys bounds: a value's size, what open transactions buffer, bytes in flight
// across processes, a request body's size, and a time limit per request.

import { assert, assertEquals } from "../assert.ts";
import { KV_PROCESS_ID } from "../../wire/core.ts";
import { createKvModule, type KvModuleOptions } from "../../modules/kv/mod.ts";
import { call, moduleAddress, OUR, requestKm, type SendOpts, TestCtx } from "./ctx.ts";

const KV = moduleAddress(KV_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;
const OTHER = `${OUR}@other:myapp:pub.os`;
const PKG = { package_name: "myapp", publisher_node: "pub.os" };
const key = (s: string) => Array.from(new TextEncoder().encode(s));

async function setup(opts: KvModuleOptions = {}) {
  const home = await Deno.makeTempDir({ prefix: "hd-kv-limits-" });
  const ctx = new TestCtx(home);
  const mod = createKvModule(opts);
  await mod.start(ctx);
  const send = async (action: unknown, o: SendOpts = {}, from = APP) =>
    (await call(ctx, mod, requestKm(from, KV, { package_id: PKG, db: "main", action }, o)))!;
  assertEquals((await send("Open")).json, "Ok");
  assertEquals((await send("Open", {}, OTHER)).json, "Ok");
  const cleanup = async () => {
    await mod.shutdown?.();
    await Deno.remove(home, { recursive: true });
  };
  return { send, cleanup };
}

const storeErr = (r: { json: unknown }) =>
  (r.json as { Err: { RocksDBError: string } }).Err.RocksDBError;

Deno.test("kv: value, transaction and body limits", async () => {
  const { send, cleanup } = await setup({
    limits: { maxValueBytes: 100, maxOpenTxs: 2, maxTxBytes: 250 },
  });
  try {
    const set = (k: string, n: number, tx_id: number | null = null) =>
      send({ Set: { key: key(k), tx_id } }, { blob: new Uint8Array(n) });
    assertEquals((await set("a", 100)).json, "Ok");
    assertEquals(storeErr(await set("a", 101)), "value of 101 bytes is over kv's limit of 100");
    const begin = async () =>
      ((await send("BeginTx")).json as { BeginTx: { tx_id: number } }).BeginTx.tx_id;
    const tx = await begin();
    await begin();
    assertEquals(
      storeErr(await send("BeginTx")),
      "too many open transactions: kv's limit is 2; commit some first",
    );
    assertEquals((await set("t1", 100, tx)).json, "Ok"); // 102 bytes with the key
    assertEquals((await set("t2", 100, tx)).json, "Ok");
    assertEquals(
      storeErr(await set("t3", 100, tx)),
      "out of memory: open transactions hold over kv's limit of 250 bytes; commit them first",
    );
    assertEquals((await send({ Commit: { tx_id: tx } })).json, "Ok");
    assertEquals((await send({ Get: key("t2") })).blob?.length, 100);
    await begin(); // the slot is free again
    // a body over 1 MiB is not parsed
    const huge = await send({ Get: Array(300_000).fill(255) });
    assertEquals(huge.json, { Err: "MalformedRequest" });
  } finally {
    await cleanup();
  }
});

Deno.test("kv: bytes in flight across processes are bounded", async () => {
  const { send, cleanup } = await setup({ limits: { maxInflightBytes: 300_000 } });
  try {
    // two processes set 200 KB values at once: the second does not fit beside the first
    const a = send({ Set: { key: key("a"), tx_id: null } }, { blob: new Uint8Array(200_000) });
    const b = send(
      { Set: { key: key("b"), tx_id: null } },
      { blob: new Uint8Array(200_000) },
      OTHER,
    );
    assertEquals((await a).json, "Ok");
    assertEquals(
      storeErr(await b),
      "out of memory: requests in flight are over kv's limit of 300000 bytes; retry later",
    );
    const b2 = await send({ Set: { key: key("b"), tx_id: null } }, {
      blob: new Uint8Array(200_000),
    }, OTHER);
    assertEquals(b2.json, "Ok");
    // gets of chunked values count as they are read
    assertEquals((await send({ Get: key("a") })).blob?.length, 200_000);
  } finally {
    await cleanup();
  }
});

Deno.test("kv: a request past the time limit is answered with an error", async () => {
  const home = await Deno.makeTempDir({ prefix: "hd-kv-limits-" });
  const ctx = new TestCtx(home);
  const KERNEL = `${OUR}@kernel:distro:sys`;
  const send = async (mod: ReturnType<typeof createKvModule>, action: unknown, o: SendOpts = {}) =>
    (await call(ctx, mod, requestKm(KERNEL, KV, { package_id: PKG, db: "main", action }, o)))!;
  const first = createKvModule();
  await first.start(ctx);
  assertEquals((await send(first, "Open")).json, "Ok");
  await first.shutdown?.();
  const mod = createKvModule({ requestTimeoutMs: 20 });
  await mod.start(ctx);
  try {
    const t0 = performance.now();
    const r = await send(mod, { Set: { key: key("big"), tx_id: null } }, {
      blob: new Uint8Array(48 * 1024 * 1024),
    });
    assertEquals(r.json, {
      Err: { IOError: "timed out: past kv's time limit of 20 ms; a write may still complete" },
    });
    assert(performance.now() - t0 < 1000, "answered late");
  } finally {
    await mod.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
});
