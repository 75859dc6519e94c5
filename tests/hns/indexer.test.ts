// hns-indexer's logic without a node: the process module is loaded as the kernel loads it, with
// a stub standard API, and its Index runs against a scripted chain (blocks, hashes, logs, a
// provider that refuses big ranges, reorgs). Also its codecs against the project's own (viem's
// keccak and ABI, net's MessagePack codec).

import { encodeAbiParameters, type Hex, hexToBytes, keccak256, toEventSelector, toHex } from "viem";
import { assert, assertEquals } from "../assert.ts";
import { hypermapAbi, namehash as chainNamehash } from "../../chain/abi.ts";
import { decodeNetAction, encodeNetAction as netEncode } from "../../net/codec.ts";
import type { HnsUpdate } from "../../wire/net.ts";

import { loadPackageModule } from "../kernel/helpers.ts";

type Mod = typeof import("../../packages/hns-indexer/pkg/hns-indexer.ts");
const STUB = [
  "clearState",
  "getState",
  "printToTerminal",
  "receive",
  "sendAndAwaitResponse",
  "sendRequest",
  "sendResponse",
  "setState",
].map((n) => `export const ${n} = () => { throw new Error("no process here"); };`).join("\n");

const load = () => loadPackageModule<Mod>("hns-indexer", "hns-indexer.ts", STUB);

const m = await load();
const enc = new TextEncoder();

Deno.test("hns-indexer: keccak-256, namehash and the event topics match viem and chain/", () => {
  for (const len of [0, 1, 3, 135, 136, 137, 272, 300]) {
    const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 255);
    assertEquals(`0x${m.toHex(m.keccak256(bytes))}`, keccak256(bytes));
  }
  for (const name of ["os", "fake.os", "a-b.c-d.os", "~net-key.alice.os"]) {
    assertEquals(m.namehash(name), chainNamehash(name));
  }
  const abiEvent = (name: string) =>
    toEventSelector(hypermapAbi.find((e) => e.type === "event" && e.name === name)!);
  assertEquals(m.MINT_TOPIC, abiEvent("Mint"));
  assertEquals(m.NOTE_TOPIC, abiEvent("Note"));
  assertEquals(m.HNS_NOTE_TOPICS[2], keccak256(toHex("~net-key")));
});

Deno.test("hns-indexer: NetAction bytes are what net's rmp-serde codec writes and reads", () => {
  const u = (name: string, ports: Record<string, number>, routers: string[] = []): HnsUpdate => ({
    name,
    public_key: "ab".repeat(32),
    ips: routers.length ? [] : ["127.0.0.1"],
    ports,
    routers,
  });
  const one = u("a-rather-long-node-name-over-thirty-one-bytes.os", { ws: 9000, tcp: 70 });
  assertEquals(m.encodeNetAction([one]), netEncode({ tag: "HnsUpdate", update: one }));
  assertEquals(decodeNetAction(m.encodeNetAction([one])), { tag: "HnsUpdate", update: one });
  const many = Array.from({ length: 20 }, (_, i) => u(`n${i}.os`, {}, ["r.os"]));
  assertEquals(m.encodeNetAction(many), netEncode({ tag: "HnsBatchUpdate", updates: many }));
  assertEquals(
    m.encodeNetAction([one], true),
    netEncode({ tag: "HnsBatchUpdate", updates: [one] }),
  );
});

Deno.test("hns-indexer: ~ip and ~*-port bytes read as Hyperdrive (Rust's Display for IPv6)", () => {
  const v6 = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
  assertEquals(m.bytesToIp(Uint8Array.of(10, 0, 0, 255)), "10.0.0.255");
  assertEquals(m.bytesToIp(new Uint8Array(16)), "::");
  assertEquals(m.bytesToIp(v6(`${"00".repeat(15)}01`)), "::1");
  assertEquals(m.bytesToIp(v6(`fe80${"00".repeat(10)}00010002`)), "fe80::1:2");
  assertEquals(m.bytesToIp(v6("00010000000200000000000000000003")), "1:0:2::3");
  assertEquals(m.bytesToIp(v6("00010000000200030004000500060007")), "1:0:2:3:4:5:6:7");
  assertEquals(m.bytesToIp(v6(`${"00".repeat(10)}ffff01020304`)), "::ffff:1.2.3.4");
  assertEquals(m.bytesToPort(Uint8Array.of(0x23, 0x28)), 9000);
  for (const bad of [new Uint8Array(3), new Uint8Array(5)]) {
    let threw = false;
    try {
      m.bytesToIp(bad);
    } catch {
      threw = true;
    }
    assert(threw);
  }
});

Deno.test("hns-indexer: requests as serde reads them; settings from its initfiles", () => {
  const p = (s: string) => m.parseIndexerRequest(enc.encode(s));
  assertEquals(p('"Reset"'), { tag: "Reset" });
  assertEquals(p('{"NodeInfo":{"name":"a.os","block":3}}'), {
    tag: "NodeInfo",
    name: "a.os",
    block: 3,
  });
  assertEquals(p('{"NamehashToName":{"hash":"0x01","block":0}}'), {
    tag: "NamehashToName",
    hash: "0x01",
    block: 0,
  });
  assertEquals(p('{"GetState":{"block":0}}'), { tag: "GetState", block: 0 });
  for (const bad of ['{"NodeInfo":{"name":"a.os"}}', '"GetState"', "{}", "[1]", "\xff", "nope"]) {
    assertEquals(p(bad), undefined, bad);
  }
  const main = m.makeConfig(undefined);
  assertEquals([main.chainId, main.firstBlock, main.bootstrap.length], [8453, 27_270_411, 4]);
  assertEquals(m.makeConfig(undefined, ["x.os"]).bootstrap, ["x.os"]);
  const sim = m.makeConfig({ simulation: true, timing: { sync_ms: 5, logs_range: 0 } });
  assertEquals([sim.chainId, sim.firstBlock, sim.bootstrap], [31337, 0, ["fake.os"]]);
  assertEquals([sim.timing.sync_ms, sim.timing.logs_range], [5, 1]);
});

// ---------------------------------------------------------------------------
// a scripted chain

type Log = ReturnType<typeof mintLog>;

function mintLog(parent: string, label: string) {
  return {
    topics: [
      m.MINT_TOPIC,
      chainNamehash(parent),
      chainNamehash(parent ? `${label}.${parent}` : label),
      keccak256(toHex(label)),
    ],
    data: encodeAbiParameters([{ type: "bytes" }], [toHex(label)]),
  };
}

function noteLog(name: string, note: string, data: Hex) {
  return {
    topics: [
      m.NOTE_TOPIC,
      chainNamehash(name),
      chainNamehash(`${note}.${name}`),
      keccak256(toHex(note)),
    ],
    data: encodeAbiParameters([{ type: "bytes" }, { type: "bytes" }], [toHex(note), data]),
  };
}

const key = (n: number): Hex => toHex(new Uint8Array(32).fill(n));
const direct = (name: string, k: number, port: number): Log[] => [
  mintLog("os", name.replace(/\.os$/, "")),
  noteLog(name, "~ip", "0x7f000001"),
  noteLog(name, "~ws-port", toHex(port, { size: 2 })),
  noteLog(name, "~net-key", key(k)),
];

interface Mined {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  logIndex: string;
  removed?: boolean;
}

class FakeChain {
  blocks: { hash: string; logs: Mined[] }[] = [{ hash: randomHash(), logs: [] }];
  /** the provider refuses eth_getLogs over more blocks than this */
  maxRange = Infinity;
  /** every call, for counting */
  calls: string[] = [];
  /** Hypermap.get answers: namehash -> note data */
  entries = new Map<string, Hex>();
  down = false;

  mine(logs: Log[]): Mined[] {
    const n = this.blocks.length;
    const hash = randomHash();
    const mined = logs.map((l, i) => ({
      address: "0x000000000044c6b8cb4d8f0f889a3e47664eaeda",
      ...l,
      blockNumber: toHex(n),
      blockHash: hash,
      logIndex: toHex(i),
    }));
    this.blocks.push({ hash, logs: mined });
    return mined;
  }

  /** Replaces blocks from `from` on with new ones (a reorg). */
  reorg(from: number, blocks: Log[][]) {
    this.blocks.length = from;
    for (const b of blocks) this.mine(b);
  }

  #check(what: string) {
    this.calls.push(what);
    if (this.down) throw new m.EthCallError("unavailable", "NoRpcForChain");
  }
  blockNumber() {
    this.#check("blockNumber");
    return this.blocks.length - 1;
  }
  blockHash(n: number) {
    this.#check("blockHash");
    return this.blocks[n]?.hash ?? null;
  }
  getLogs(f: Record<string, unknown>) {
    this.#check("getLogs");
    const from = Number(f.fromBlock);
    const to = Number(f.toBlock);
    if (to - from + 1 > this.maxRange) throw new m.EthCallError("rpc", "range too large");
    const topics = f.topics as (string | string[] | null)[];
    return this.blocks.slice(from, to + 1).flatMap((b) => b.logs).filter((l) =>
      l.topics[0] === topics[0] &&
      (!Array.isArray(topics[3]) || topics[3].includes(l.topics[3]))
    );
  }
  call(data: string) {
    this.#check("call");
    const value = this.entries.get(`0x${data.slice(10)}`) ?? "0x";
    return hexToBytes(
      encodeAbiParameters([{ type: "address" }, { type: "address" }, { type: "bytes" }], [
        "0x0000000000000000000000000000000000000001",
        "0x0000000000000000000000000000000000000002",
        value,
      ]),
    );
  }
  now() {
    return Date.now();
  }
}

function randomHash(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(32)));
}

function setup(timing: Record<string, number> = {}) {
  const chain = new FakeChain();
  const sent: { updates: HnsUpdate[]; batch: boolean }[] = [];
  const prints: string[] = [];
  const cfg = m.makeConfig({ simulation: true, timing });
  const index = new m.Index(cfg, chain, {
    net: (updates, batch) => sent.push({ updates, batch }),
    print: (_l, t) => prints.push(t),
  });
  const sync = () => index.sync(Date.now() + 60_000);
  const names = () => [...index.nodes.keys()].sort();
  return { chain, index, sent, prints, sync, names };
}

Deno.test("hns-indexer index: history in block ranges, halved when the provider refuses", () => {
  const t = setup({ logs_range: 16, max_logs_range: 64 });
  t.chain.mine([mintLog("", "os")]);
  for (let i = 0; i < 30; i++) t.chain.mine(direct(`n${i}.os`, i + 1, 9000 + i));
  t.chain.maxRange = 3;
  assert(t.sync());
  assertEquals(t.index.lastBlock, 31);
  assertEquals(t.names().length, 31); // os and 30 nodes
  assertEquals(t.index.nodes.get("n7.os"), {
    name: "n7.os",
    public_key: key(8).slice(2),
    ips: ["127.0.0.1"],
    ports: { ws: 9007 },
    routers: [],
  });
  // complete nodes went to net in batches, each exactly once
  const all = t.sent.flatMap((s) => s.updates.map((u) => u.name));
  assertEquals(all.length, 30);
  assert(t.sent.every((s) => s.batch));
  // the block hash of the synced head is kept
  assertEquals(t.index.hashes.at(-1), [31, t.chain.blocks[31].hash]);
});

Deno.test("hns-indexer index: subscription logs are applied once, in order, whatever comes first", () => {
  const t = setup();
  t.chain.mine([mintLog("", "os")]);
  t.sync();
  // a whole node through the subscription, then the cycle: nothing twice
  for (const l of t.chain.mine(direct("a.os", 1, 1))) {
    assertEquals(t.index.onSubscriptionLog(l), "applied");
  }
  t.index.flush();
  assertEquals(t.sent.length, 1);
  t.sync();
  assertEquals(t.sent.length, 1);
  assertEquals(t.index.nodes.get("a.os")?.ports, { ws: 1 });

  // a note before its mint: deferred, then the cycle applies both in order
  const [mint, ...notes] = t.chain.mine(direct("b.os", 2, 2));
  assertEquals(t.index.onSubscriptionLog(notes[0]), "deferred");
  assertEquals(t.index.onSubscriptionLog(mint), "applied");
  t.sync();
  assertEquals(t.index.nodes.get("b.os")?.public_key, key(2).slice(2));

  // the subscription missed block N (eth was reconnecting) and delivered N+1: the older value
  // the cycle then finds does not overwrite the newer one
  const [old] = t.chain.mine([noteLog("a.os", "~ws-port", "0x0064")]);
  const [newer] = t.chain.mine([noteLog("a.os", "~ws-port", "0x00c8")]);
  assertEquals(t.index.onSubscriptionLog(newer), "applied");
  assertEquals(t.index.nodes.get("a.os")?.ports, { ws: 200 });
  t.sync();
  assertEquals(t.index.nodes.get("a.os")?.ports, { ws: 200 });
  assertEquals(t.index.onSubscriptionLog(old), "old");
});

Deno.test("hns-indexer index: ~routers wait for their routers; only complete nodes go to net", () => {
  const t = setup();
  t.chain.mine([mintLog("", "os")]);
  t.chain.mine([
    mintLog("os", "c"),
    noteLog("c.os", "~net-key", key(3)),
    noteLog("c.os", "~routers", `0x${chainNamehash("r.os").slice(2)}`),
  ]);
  t.chain.mine([mintLog("os", "k"), noteLog("k.os", "~net-key", key(4))]); // key only
  t.sync();
  assertEquals(t.index.nodes.get("c.os")?.routers, []);
  assertEquals([...t.index.pendingRouters.keys()], ["c.os"]);
  assertEquals(t.sent.length, 0);
  t.chain.mine(direct("r.os", 5, 5));
  t.sync();
  assertEquals(t.index.nodes.get("c.os")?.routers, ["r.os"]);
  assertEquals(t.sent.flatMap((s) => s.updates.map((u) => u.name)).sort(), ["c.os", "r.os"]);
  // a ~ws-port makes it direct again: routers cleared (a port without an ip: not complete)
  const sentBefore = t.sent.length;
  t.chain.mine([noteLog("c.os", "~ws-port", "0x0001")]);
  t.sync();
  assertEquals(t.index.nodes.get("c.os")?.routers, []);
  assertEquals(t.sent.length, sentBefore);
  // invalid data is skipped, the index goes on
  t.chain.mine([
    noteLog("r.os", "~net-key", "0x01"),
    noteLog("r.os", "~ip", "0x0102"),
    mintLog("os", "Bad_Name"),
  ]);
  t.sync();
  assertEquals(t.index.nodes.get("r.os")?.public_key, key(5).slice(2));
  assert(!t.index.nodes.has("Bad_Name.os"));
});

Deno.test("hns-indexer index: reorgs rewind to a kept block; a chain started over is re-indexed", () => {
  const t = setup();
  t.chain.mine([mintLog("", "os")]);
  t.chain.mine(direct("a.os", 1, 1));
  t.sync();
  t.chain.mine(direct("b.os", 2, 2));
  t.sync();
  assertEquals(t.index.hashes.map(([n]) => n), [2, 3]);
  // block 3 replaced: c instead of b
  t.chain.reorg(3, [direct("c.os", 3, 3), []]);
  t.sync();
  assert(t.prints.some((p) => /block 3 changed \(reorg\)/.test(p)), t.prints.join("\n"));
  assertEquals(t.index.nodes.get("c.os")?.ports, { ws: 3 });
  assertEquals(t.index.lastBlock, 4);

  // a removed log from the subscription rewinds to before its block
  const [removed] = t.chain.blocks[3].logs;
  assertEquals(t.index.onSubscriptionLog({ ...removed, removed: true }), "removed");
  assertEquals(t.index.lastBlock, 2);
  t.sync();
  assertEquals(t.index.lastBlock, 4);

  // a new chain on the same port: nothing kept matches, everything is indexed again
  t.chain.blocks = [{ hash: randomHash(), logs: [] }];
  t.chain.mine([mintLog("", "os")]);
  t.chain.mine(direct("d.os", 4, 4));
  t.sync();
  assert(t.prints.some((p) => /indexing again from block 0/.test(p)), t.prints.join("\n"));
  assertEquals(t.names(), ["d.os", "os"]);
});

Deno.test("hns-indexer index: checkpoints round-trip; the chain down throws, nothing is lost", () => {
  const t = setup();
  t.chain.mine([mintLog("", "os")]);
  t.chain.mine(direct("a.os", 1, 1));
  t.chain.mine([
    mintLog("os", "c"),
    noteLog("c.os", "~net-key", key(3)),
    noteLog("c.os", "~routers", `0x${chainNamehash("r.os").slice(2)}`),
  ]);
  t.sync();
  const saved = JSON.parse(JSON.stringify(t.index.save()));
  const u = setup();
  u.chain.blocks = t.chain.blocks;
  assert(u.index.load(saved));
  assertEquals(u.index.lastBlock, 3);
  assertEquals(u.names(), t.names());
  assertEquals([...u.index.pendingRouters.keys()], ["c.os"]);
  // another chain's checkpoint is refused
  assert(!u.index.load({ ...saved, chain_id: 8453 }));

  u.chain.down = true;
  u.chain.mine(direct("b.os", 2, 2));
  let threw = false;
  try {
    u.sync();
  } catch (e) {
    threw = e instanceof m.EthCallError;
  }
  assert(threw);
  assertEquals(u.index.lastBlock, 3);
  u.chain.down = false;
  u.sync();
  assertEquals(u.index.nodes.get("b.os")?.ports, { ws: 2 });
});

Deno.test("hns-indexer index: NodeInfo of a name not indexed reads its notes from Hypermap", () => {
  const t = setup();
  const put = (path: string, v: Hex) => t.chain.entries.set(chainNamehash(path), v);
  put("~net-key.x.os", key(9));
  put("~ip.x.os", "0x0a000001");
  put("~ws-port.x.os", "0x1f90");
  put("~tcp-port.x.os", "0x1f91");
  assertEquals(t.index.fetchNode("x.os", 5), {
    name: "x.os",
    public_key: key(9).slice(2),
    ips: ["10.0.0.1"],
    ports: { tcp: 8081, ws: 8080 },
    routers: [],
  });
  assertEquals(t.index.fetchNode("nokey.os", 5), null);
  t.chain.down = true;
  assertEquals(t.index.fetchNode("x.os", 5), null);
});
