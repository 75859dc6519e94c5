// kv's and sqlite's request parser (wire/kv.ts DbRequestParser): a body whose envelope
// text was seen before is parsed by its action alone; every result and error must be
// what parsing the whole body gives (parseKvRequest / parseSqliteRequest). And the
// Watchdog (modules/shared/runtime.ts) that holds kv's time limits.

import { assert, assertEquals } from "../assert.ts";
import { KvFailure, kvRequestParser, parseKvRequest } from "../../wire/kv.ts";
import { parseSqliteRequest, SqliteFailure, sqliteRequestParser } from "../../wire/sqlite.ts";
import { Watchdog } from "../../modules/shared/runtime.ts";

const enc = new TextEncoder();
const PKG = '{"package_id":{"package_name":"app","publisher_node":"pub.os"}';

/** What a parse gives: the request, or the error's JSON. */
function outcome(f: () => unknown): string {
  try {
    return Deno.inspect(f(), { depth: 8, sorted: true });
  } catch (e) {
    if (e instanceof KvFailure || e instanceof SqliteFailure) {
      return `error ${Deno.inspect(e.error)}`;
    }
    throw e;
  }
}

const KV_BODIES = [
  `${PKG},"db":"main","action":"Open"}`,
  `${PKG},"db":"main","action":{"Set":{"key":[1,2,3],"tx_id":null}}}`,
  `${PKG},"db":"main","action":{"Get":[112,49]}}`,
  `${PKG},"db":"main","action":{"Get":[]}}`,
  // a u64 past 2^53 stays exact
  `${PKG},"db":"main","action":{"Commit":{"tx_id":18446744073709551615}}}`,
  `${PKG},"db":"main","action":{"Set":{"key":[1],"tx_id":9007199254740993}}}`,
  // the same envelope, then text that is not one action value: the whole body decides
  `${PKG},"db":"main","action":"Open","db":"other"}`,
  `${PKG},"db":"main","action":"Open","db":"../x"}`,
  `${PKG},"db":"main","action":1},"action":"BeginTx"}`,
  `${PKG},"db":"main","action":}`,
  `${PKG},"db":"main","action":"Open"} `,
  `${PKG},"db":"main","action":"Open"}}`,
  `${PKG},"db":"main","action": "RemoveDb" }`,
  // malformed actions, non-ASCII text, a BOM, invalid UTF-8
  `${PKG},"db":"main","action":{"Get":[256]}}`,
  `${PKG},"db":"main","action":"Nope"}`,
  `${PKG},"db":"main","action":{"Get":[1]},"x":"é"}`,
  `${PKG},"db":"mäin","action":"Open"}`,
  `\ufeff${PKG},"db":"main","action":"Open"}`,
  `${PKG},"db":"main","action":{"Get":"\ud800"}}`,
];

Deno.test("kv request parser: a remembered envelope parses as the whole body does", () => {
  const p = kvRequestParser();
  const bodies = KV_BODIES.map((b) => enc.encode(b));
  bodies.push(new Uint8Array([...enc.encode(`${PKG},"db":"main","action":"`), 0xff, 0x22, 0x7d]));
  // twice: the first pass fills the memo, the second runs on it
  for (let pass = 0; pass < 2; pass++) {
    for (const body of bodies) {
      const fast = outcome(() => {
        const { target, action } = p.parse(body);
        return { packageId: target.packageId, db: target.db, action };
      });
      assertEquals(fast, outcome(() => parseKvRequest(body)), new TextDecoder().decode(body));
    }
  }
  // a hit gives the same target object, which kv keys its caps on
  const a = p.parse(bodies[1]).target;
  const b = p.parse(bodies[2]).target;
  assert(a === b);
  assertEquals(outcome(() => p.parse(bodies[6]).target.db), outcome(() => "other"));
  // a long envelope is parsed in full every time, never remembered
  const long = enc.encode(`${PKG},"db":"${"d".repeat(2000)}","action":"Open"}`);
  assert(p.parse(long).target !== p.parse(long).target);
  assertEquals(p.parse(long).target.db, "d".repeat(2000));
});

Deno.test("sqlite request parser: a remembered envelope parses as the whole body does", () => {
  const p = sqliteRequestParser();
  const bodies = [
    `${PKG},"db":"main","action":{"Write":{"statement":"INSERT INTO t VALUES (1)","tx_id":null}}}`,
    `${PKG},"db":"main","action":{"Query":"SELECT 1"}}`,
    `${PKG},"db":"main","action":{"Query":"SELECT ','\\"action\\":'"}}`,
    `${PKG},"db":"main","action":{"Query":1}}`,
    `${PKG},"db":"main","action":{"Commit":{"tx_id":18446744073709551615}}}`,
    `${PKG},"db":"main","action":"Open","package_id":{"package_name":"b","publisher_node":"c"}}`,
  ].map((b) => enc.encode(b));
  for (let pass = 0; pass < 2; pass++) {
    for (const body of bodies) {
      const fast = outcome(() => {
        const { target, action } = p.parse(body);
        return { packageId: target.packageId, db: target.db, action };
      });
      assertEquals(fast, outcome(() => parseSqliteRequest(body)), new TextDecoder().decode(body));
    }
  }
});

Deno.test("Watchdog: work settles as it does; past the limit, the time-out error", async () => {
  const w = new Watchdog(50);
  try {
    assertEquals(await w.watch(Promise.resolve(7), () => new Error("late")), 7);
    const failed = await w.watch(Promise.reject(new Error("boom")), () => new Error("late"))
      .catch((e) => (e as Error).message);
    assertEquals(failed, "boom");
    // two stuck requests started apart expire in order, each at its own deadline
    const t0 = performance.now();
    const never = new Promise<number>(() => {});
    const first = w.watch(never, () => new Error("first")).catch((
      e,
    ) => [(e as Error).message, performance.now() - t0]);
    await new Promise((r) => setTimeout(r, 30));
    const second = w.watch(never, () => new Error("second")).catch((
      e,
    ) => [(e as Error).message, performance.now() - t0]);
    const [m1, at1] = (await first) as [string, number];
    const [m2, at2] = (await second) as [string, number];
    assertEquals([m1, m2], ["first", "second"]);
    assert(at1 >= 49 && at2 >= 79, `expired at ${at1} and ${at2} ms`);
    // work that ends in time is not expired later
    let resolveLate!: (v: string) => void;
    const late = w.watch(new Promise<string>((r) => resolveLate = r), () => new Error("late"));
    await new Promise((r) => setTimeout(r, 20));
    resolveLate("done");
    assertEquals(await late, "done");
  } finally {
    w.stop();
  }
});
