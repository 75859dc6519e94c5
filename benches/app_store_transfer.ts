// App store transfer throughput: a 20 MB package downloaded node to node (bob's
// downloads:app-store:sys asks alice's for it: RemoteDownload, Size, 80 Chunks of 256 KiB
// appended to a .part file, sha256 over the file, the zip checked and kept), against the
// net module's raw blob throughput in the same run: the same 20 MB as 80 requests of
// 256 KiB blobs, all in flight, from alice to a sink process on bob that answers each.
// Two real nodes in this Deno process, TCP on loopback.
//
//   ./node_modules/deno/deno run -A benches/app_store_transfer.ts [runs]

import { bigPackageZip, bootStoreNode, type StoreNode } from "../tests/app-store/helpers.ts";
import { kitRpc, newPackageMessage, sha256Hex } from "../tests/app-store/kit.ts";
import { writeKitPackage } from "../tests/kernel/helpers.ts";
import { encodeNetAction } from "../net/codec.ts";

const RUNS = Number(Deno.args[0] ?? 5);
const SIZE = 20 * 1024 * 1024;
const CHUNK = 262144;
const root = await Deno.makeTempDir({ prefix: "hyperdeno-storebench-" });

const SINK = `import { receive, sendResponse } from "hyperware:process/standard@1.0.0";
const ok = new TextEncoder().encode("ok");
export function init() {
  for (;;) {
    let m;
    try {
      [, m] = receive();
    } catch {
      continue;
    }
    if (m.tag === "request" && m.val.expectsResponse !== undefined) {
      sendResponse({ inherit: false, body: ok, metadata: undefined, capabilities: [] }, undefined);
    }
  }
}
`;

function teach(n: StoreNode, other: StoreNode) {
  return n.node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: other.node.identity }),
  );
}

const quiet = { verbosity: 0 };
const alice = await bootStoreNode(`${root}/alice`, { name: "alice.os", ...quiet });
const bob = await bootStoreNode(`${root}/bob`, {
  name: "bob.os",
  pki: [alice.node.identity],
  ...quiet,
});
try {
  await teach(alice, bob);
  await bob.node.installPackage(
    await writeKitPackage(`${root}/src`, {
      name: "sink",
      files: { "sink.js": SINK },
      manifest: [{
        process_name: "sink",
        process_wasm_path: "/sink.js",
        on_exit: "Restart",
        request_networking: true,
        request_capabilities: [],
        grant_capabilities: [],
        public: true,
      }],
    }),
  );
  const zip = bigPackageZip(SIZE - 512, 9);
  const hash = await sha256Hex(zip);
  await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip));
  const blobs = Array.from(
    { length: Math.ceil(zip.length / CHUNK) },
    (_, i) => zip.slice(i * CHUNK, (i + 1) * CHUNK),
  );

  /** 80 x 256 KiB blobs alice -> bob's sink, all in flight: ms */
  const raw = async () => {
    const t0 = performance.now();
    await Promise.all(
      blobs.map((b) =>
        alice.node.request("bob.os@sink:sink:test.os", "chunk", { blob: b, timeoutSeconds: 120 })
      ),
    );
    return performance.now() - t0;
  };

  /** bob downloads the package from alice through the app store: ms */
  let n = 0;
  const store = async () => {
    const done = `downloaded big:alice.os ${hash.slice(0, 8)} from alice.os`;
    const before = bob.prints.filter((p) => p.includes(done)).length;
    const t0 = performance.now();
    const r = await bob.api("POST", "/apps/big:alice.os/download", {
      download_from: "alice.os",
      version_hash: hash,
    });
    if (r.status !== 200) throw new Error(`download: ${r.status} ${r.text}`);
    while (bob.prints.filter((p) => p.includes(done)).length === before) {
      await new Promise((res) => setTimeout(res, 2));
    }
    const ms = performance.now() - t0;
    await bob.api("POST", "/downloads/big:alice.os/remove", { version_hash: hash });
    n++;
    return ms;
  };

  // warm up both paths (connection, JIT, transpiles)
  await raw();
  await store();
  const rawMs: number[] = [];
  const storeMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rawMs.push(await raw());
    storeMs.push(await store());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mbps = (ms: number) => (zip.length / 1e6) / (ms / 1000);
  const r = median(rawMs), s = median(storeMs);
  console.log(`20 MB (${zip.length} bytes), ${RUNS} runs each, interleaved; medians:`);
  console.log(
    `  net raw blobs, 80 x 256 KiB in flight (baseline): ${r.toFixed(0)} ms, ${
      mbps(r).toFixed(1)
    } MB/s  [${rawMs.map((x) => x.toFixed(0)).join(", ")}]`,
  );
  console.log(
    `  app store download (RemoteDownload + chunks + sha256 + zip check): ${s.toFixed(0)} ms, ${
      mbps(s).toFixed(1)
    } MB/s  [${storeMs.map((x) => x.toFixed(0)).join(", ")}]`,
  );
  console.log(`  app store / raw throughput: ${((r / s) * 100).toFixed(0)}%`);
  void n;
} finally {
  await bob.stop();
  await alice.stop();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
