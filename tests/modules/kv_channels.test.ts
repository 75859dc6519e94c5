// Module channels to kv's Worker (modules/kv/worker.ts): after a process's Get, Set or
// Delete outside a transaction passed kv's checks, its later ones on that database go
// straight to the Worker holding the stores. What must hold: the same answers as through
// the module, no request of the process overtaking another, the rights of the moment (a
// cap dropped closes the channel), and RemoveDb closing them.

import { assert, assertEquals } from "../assert.ts";
import { createKvModule, kvCapParams } from "../../modules/kv/mod.ts";
import { parseProcessId } from "../../wire/core.ts";
import {
  appBatch,
  type AppCall,
  appCall,
  bootStorageNode,
  NODE,
  withCountedModule,
  writeStoragePackage,
} from "./node_helpers.ts";

const A = "our@app:storage:test.os";
const PKG = { package_name: "storage", publisher_node: "test.os" };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b?: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array());
const kv = (action: unknown, blob?: Uint8Array, db = "main"): AppCall => ({
  target: "kv:distro:sys",
  body: { package_id: PKG, db, action },
  blob,
});
const bytes = (k: string | Uint8Array) => Array.from(typeof k === "string" ? enc(k) : k);
const set = (k: string | Uint8Array, v?: Uint8Array, tx_id: number | null = null) =>
  kv({ Set: { key: bytes(k), tx_id } }, v);
const get = (k: string | Uint8Array) => kv({ Get: bytes(k) });
const del = (k: string | Uint8Array) => kv({ Delete: { key: bytes(k), tx_id: null } });

function withNode(
  opts: Parameters<typeof createKvModule>[0],
  f: Parameters<typeof withCountedModule>[1],
) {
  return withCountedModule(createKvModule(opts), f);
}

/** Opens A's database and sets "seed": the Set's answer opens A's channel. */
async function openWithSeed(n: Parameters<Parameters<typeof withNode>[1]>[0]) {
  assertEquals((await appCall(n.node, A, kv("Open"))).text, '"Ok"');
  assertEquals((await appCall(n.node, A, set("seed", enc("s")))).text, '"Ok"');
}

const LONG_KEY = new Uint8Array(2100).fill(7); // past Deno KV's key limit: stored hashed
const BIG = new Uint8Array(100_000).map((_, i) => i % 251); // chunked; too big for the ring

/** Requests covering answers, blobs, long keys, chunked values and the errors a channel gives. */
const MIXED: AppCall[] = [
  set("a", enc("alpha")),
  get("a"),
  get("missing"),
  set("b", new Uint8Array()),
  get("b"),
  del("a"),
  get("a"),
  del("never-there"),
  set("nothing"), // no blob: MalformedRequest
  set(LONG_KEY, enc("long")),
  get(LONG_KEY),
  // a value too big for the channel's ring goes through the module; a Get answering it
  // goes by the channel and its answer by the answer channel's port
  set("big", BIG),
  get("big"),
  kv({ Get: "not bytes" }),
  kv({ Get: bytes("a") }, undefined, "other"), // another db: NoReadCap
  set("tx", enc("v"), 7), // in a transaction: through the module (NoTx)
  ...Array.from({ length: 10 }, (_, i) => [set(`k${i}`, enc(`v${i}`)), get(`k${i}`)]).flat(),
];

Deno.test({
  name:
    "kv channels: later requests skip the module; answers are those of the module, with its stores on its Worker or on the kernel's thread",
  async fn() {
    const answers: Record<string, (string | null)[][]> = {};
    const printed: Record<string, string[]> = {};
    // the stores on the kernel's thread; on kv's Worker without channels; with them
    const configs = { thread: { worker: false }, worker: { moduleChannels: false }, channels: {} };
    for (const [name, opts] of Object.entries(configs)) {
      await withNode(opts, async (n, m) => {
        await openWithSeed(n);
        const before = m.handled;
        const from = n.prints.length;
        const got = await appBatch(n.node, A, MIXED);
        // errors print as the module prints its own (the Worker's reach the terminal a bit later)
        await new Promise((r) => setTimeout(r, 100));
        printed[name] = n.prints.slice(from).filter((p) => p.startsWith("kv:"));
        answers[name] = got.map((r) => [r.text, dec(r.blob), r.mime]);
        if (name === "channels") {
          // the big Set, the other db's Get and the transaction's Set (the malformed Get
          // goes by the channel: the Worker parses it in full and refuses it)
          assertEquals(m.handled, before + 3, "requests went through the module");
        } else {
          assertEquals(m.handled, before + MIXED.length);
        }
      });
    }
    assertEquals(answers.channels, answers.worker);
    assertEquals(answers.channels, answers.thread);
    assertEquals(printed.channels, printed.worker);
    assertEquals(printed.channels, printed.thread);
    assertEquals(printed.channels.length, 6, printed.channels.join("\n"));
    const a = answers.channels;
    assertEquals(a[1], [
      `{"Get":${JSON.stringify(bytes("a"))}}`,
      "alpha",
      "application/octet-stream",
    ]);
    assertEquals(a[2][0], '{"Err":"KeyNotFound"}');
    assertEquals(a[4], [`{"Get":${JSON.stringify(bytes("b"))}}`, "", "application/octet-stream"]);
    assertEquals(a[6][0], '{"Err":"KeyNotFound"}');
    assertEquals(a[7][0], '"Ok"');
    assertEquals(a[8][0], '{"Err":"MalformedRequest"}');
    assertEquals(a[10][1], "long");
    assertEquals(a[12][1], dec(BIG));
    assertEquals(a[13][0], '{"Err":"MalformedRequest"}');
    assertEquals(a[14][0], '{"Err":"NoReadCap"}');
    assertEquals(a[15][0], '{"Err":{"NoTx":7}}');
    for (let i = 0; i < 10; i++) assertEquals(a[17 + 2 * i][1], `v${i}`);
  },
});

Deno.test({
  name: "kv channels: a cap dropped or granted closes the channel; rights are those of the moment",
  async fn() {
    await withNode({}, async (n, m) => {
      await openWithSeed(n);
      assertEquals(dec((await appCall(n.node, A, get("seed"))).blob), "s");
      const app = parseProcessId("app:storage:test.os");
      const issuer = { node: NODE, process: parseProcessId("kv:distro:sys") };
      const pkg = { packageName: "storage", publisherNode: "test.os" };
      const read = { issuer, params: kvCapParams("read", pkg, "main") };
      m.ctx!.dropCapabilities(app, [read]);
      // the channel (read and write) is closed: the module refuses, and the channel it
      // opens again after the next Set carries write alone
      assertEquals((await appCall(n.node, A, get("seed"))).text, '{"Err":"NoReadCap"}');
      const h = m.handled;
      const after = await appBatch(n.node, A, [
        set("x", enc("1")),
        get("x"),
        set("y", enc("2")),
        get("y"),
      ]);
      assertEquals(after.map((r) => r.text), [
        '"Ok"',
        '{"Err":"NoReadCap"}',
        '"Ok"',
        '{"Err":"NoReadCap"}',
      ]);
      assertEquals(m.handled, h + 1, "after the first Set, the channel answered");
      m.ctx!.grantCapabilities(app, [read]);
      const back = await appBatch(n.node, A, [get("x"), get("y")]);
      assertEquals(back.map((r) => dec(r.blob)), ["1", "2"]);
    });
  },
});

Deno.test({
  name: "kv channels: a request sent expecting no answer is not overtaken",
  async fn() {
    await withNode({}, async (n) => {
      await openWithSeed(n);
      for (let i = 0; i < 20; i++) {
        // fire and forget goes through the module; the Get right after must see it
        const told = await n.node.request(
          A,
          JSON.stringify({
            op: "tell",
            target: "our@kv:distro:sys",
            body: JSON.stringify({
              package_id: PKG,
              db: "main",
              action: { Set: { key: bytes("n"), tx_id: null } },
            }),
            blob: btoa(String(i)),
          }),
          { timeoutSeconds: 10 },
        );
        assertEquals(dec(told.body), '{"ok":true}');
        const r = await appCall(n.node, A, get("n"));
        assertEquals(dec(r.blob), String(i));
      }
    });
  },
});

Deno.test({
  name: "kv channels: RemoveDb closes them; the database is gone, then opened anew",
  async fn() {
    await withNode({}, async (n, m) => {
      await openWithSeed(n);
      const h = m.handled;
      const before = await appBatch(n.node, A, [set("k", enc("v")), get("k")]);
      assertEquals(dec(before[1].blob), "v");
      assertEquals(m.handled, h, "by the channel");
      assertEquals((await appCall(n.node, A, kv("RemoveDb"))).text, '"Ok"');
      const noDb = `{"Err":{"NoDb":[${JSON.stringify(PKG)},"main"]}}`;
      assertEquals((await appCall(n.node, A, get("k"))).text, noDb);
      assertEquals((await appCall(n.node, A, set("k", enc("w")))).text, noDb);
      await appCall(n.node, A, kv("Open"));
      const fresh = await appBatch(n.node, A, [get("k"), set("k", enc("w")), get("k")]);
      assertEquals(fresh.map((r) => r.text === '{"Err":"KeyNotFound"}' || dec(r.blob)), [
        true,
        "",
        "w",
      ]);
    });
  },
});

Deno.test({
  name: "kv channels: what a process wrote by its channel survives a restart of the node",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "hd-kv-channels-restart-" });
    try {
      for (const round of [0, 1]) {
        const n = await bootStorageNode(`${root}/home`);
        try {
          if (round === 0) {
            await n.node.installPackage(await writeStoragePackage(root));
            await openWithSeed(n);
            const wrote = await appBatch(
              n.node,
              A,
              Array.from({ length: 30 }, (_, i) => set(`p${i}`, enc(`${i}`))),
            );
            assert(wrote.every((r) => r.text === '"Ok"'));
          } else {
            const got = await appBatch(
              n.node,
              A,
              Array.from({ length: 30 }, (_, i) => get(`p${i}`)),
            );
            assertEquals(got.map((r) => dec(r.blob)), Array.from({ length: 30 }, (_, i) => `${i}`));
          }
        } finally {
          await n.stop();
        }
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
