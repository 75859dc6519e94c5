// kv's Worker seen from the module's side (modules/kv/host.ts): the stores' jobs, and what
// ending the Worker does: the channels it served close (their processes go back to the
// module), and the next job starts a fresh Worker on the same files, with nothing lost.

import { assert, assertEquals } from "../assert.ts";
import { KvWorkerHost } from "../../modules/kv/host.ts";
import { NoSuchDb } from "../../modules/kv/stores.ts";
import { ByteBudget } from "../../modules/shared/db.ts";
import { moduleChannelClosed } from "../../kernel/module.ts";
import { MODULE_RING_BYTES } from "../../kernel/process_host/module_channel.ts";
import { Ring } from "../../kernel/process_host/ring.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b?: Uint8Array) => new TextDecoder().decode(b);

Deno.test("kv Worker: jobs, an ended Worker's channels closed, a fresh one on the same files", async () => {
  const root = await Deno.makeTempDir({ prefix: "hd-kv-worker-" });
  const printed: string[] = [];
  const budget = new ByteBudget(1 << 20);
  const host = new KvWorkerHost({
    root,
    maxOpen: 4,
    budget,
    maxValueBytes: 1 << 20,
    timeoutMs: 10_000,
    print: (t) => printed.push(t),
  });
  try {
    assertEquals(host.wake, undefined, "no Worker before the first job");
    let missing: unknown;
    await host.open("pkg/db", false).catch((e) => missing = e);
    assert(missing instanceof NoSuchDb, `${missing}`);
    await host.open("pkg/db", true);
    await host.commit("pkg/db", [{ key: enc("k"), value: enc("v") }]);
    // a chunked value: its bytes are held in the budget until the caller lets them go
    const big = new Uint8Array(200_000).fill(3);
    await host.commit("pkg/db", [{ key: enc("big"), value: big }]);
    let adopted = 0;
    const got = await host.get("pkg/db", enc("big"), () => {}, (n) => adopted += n);
    assertEquals(got?.length, big.length);
    assertEquals(adopted, big.length);
    assertEquals(budget.held, big.length);
    budget.give(adopted);
    assertEquals(dec(await host.get("pkg/db", enc("k"), () => {}, () => {})), "v");
    assertEquals(await host.get("pkg/db", enc("nope"), () => {}, () => {}), undefined);

    // a channel it serves (a ring nobody writes to) closes when the Worker ends
    const ring = Ring.create(MODULE_RING_BYTES).sab;
    const { port1, port2 } = new MessageChannel();
    const opened = host.openChannel({
      end: {
        ring,
        reply: Ring.create(1024).sab,
        port: port2,
        signal: new SharedArrayBuffer(64),
        process: {
          node: "fake.os",
          process: { processName: "a", packageName: "pkg", publisherNode: "p.os" },
        },
      },
      route: { kind: "kv-db", packageName: "pkg", publisherNode: "p.os", db: "db" },
      dbKey: "pkg/db",
      read: true,
      write: true,
    });
    assert(opened);
    const first = host.wake;
    await host.close();
    port1.close();
    assert(moduleChannelClosed(ring), "the ended Worker's channel is closed");
    assertEquals(host.wake, undefined);

    // the next job starts a fresh Worker, which finds what the first one wrote
    assertEquals(dec(await host.get("pkg/db", enc("k"), () => {}, () => {})), "v");
    assert(host.wake !== undefined && host.wake !== first, "a fresh Worker");
    await host.remove("pkg/db");
    missing = undefined;
    await host.get("pkg/db", enc("k"), () => {}, () => {}).catch((e) => missing = e);
    assert(missing instanceof NoSuchDb, `${missing}`);
    assertEquals(printed, []);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
