// vfs AddZip's work (modules/vfs/zip.ts: vet every entry, inflate, CRC-32, write) against
// the floor in the same run: node:zlib inflating each entry once and writing it, with no
// checks. The archive is a package's shape: a 12 MB component and 50 UI files.
//
//   deno run -A benches/vfs_zip.ts [--runs=7]

import { zipSync } from "fflate";
import { inflateRawSync } from "node:zlib";
import { extractZip, scanZip } from "../modules/vfs/zip.ts";

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=") as [string, string]),
);
const RUNS = Number(args.runs ?? 7);

// a component-sized binary compressing about as Wasm does (to ~half): bytes drawn from 16 values
const wasm = new Uint8Array(12 * 1024 * 1024);
crypto.getRandomValues(wasm.subarray(0, 65536));
for (let i = 0; i < wasm.length; i++) wasm[i] = (wasm[i % 65536] & 0x0f) * 17;
const enc = new TextEncoder();
const files: Record<string, Uint8Array> = {
  "pkg/app.wasm": wasm,
  "pkg/manifest.json": enc.encode("[]"),
};
for (let i = 0; i < 50; i++) {
  files[`pkg/ui/f${i}.js`] = enc.encode(
    `export const x${i} = "${"abc ".repeat(400)}";\n`.repeat(40),
  );
}
const zip = zipSync(files, { level: 6 });
const inflated = Object.values(files).reduce((n, f) => n + f.length, 0);

/** The floor: each entry's data inflated once and written, from the local headers. */
function floor(dir: string) {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let p = 0;
  while (view.getUint32(p, true) === 0x04034b50) {
    const method = view.getUint16(p + 8, true);
    const size = view.getUint32(p + 18, true);
    const nameLen = view.getUint16(p + 26, true);
    const extraLen = view.getUint16(p + 28, true);
    const name = new TextDecoder().decode(zip.subarray(p + 30, p + 30 + nameLen));
    const start = p + 30 + nameLen + extraLen;
    const data = zip.subarray(start, start + size);
    const out = method === 0 ? data : inflateRawSync(data);
    const path = `${dir}/${name}`;
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    Deno.writeFileSync(path, out);
    p = start + view.getUint32(p + 18, true);
  }
}

function addZip(dir: string) {
  const keep = new Map<number, Uint8Array>();
  const entries = scanZip(zip, "/bench", { maxEntries: 10_000, maxUnzippedBytes: 1 << 30 }, keep);
  extractZip(zip, entries, entries.map((e) => `${dir}/${e.segments.join("/")}`), keep);
}

// fflate's zipSync writes sizes in the local headers (no data descriptors), which floor() reads
const root = await Deno.makeTempDir({ prefix: "hd-vfs-zip-" });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const t = { addZip: [] as number[], floor: [] as number[] };
for (let r = 0; r < RUNS + 1; r++) {
  for (const [name, f] of [["floor", floor], ["addZip", addZip]] as const) {
    const dir = `${root}/${name}-${r}`;
    const t0 = performance.now();
    f(dir);
    if (r > 0) t[name].push(performance.now() - t0); // the first round warms up
    await Deno.remove(dir, { recursive: true });
  }
}
await Deno.remove(root, { recursive: true });
const a = median(t.addZip);
const f = median(t.floor);
console.log(JSON.stringify({
  zipMB: +(zip.length / 1e6).toFixed(2),
  inflatedMB: +(inflated / 1e6).toFixed(2),
  entries: Object.keys(files).length,
  addZipMs: +a.toFixed(1),
  floorMs: +f.toFixed(1),
  ratio: +(a / f).toFixed(2),
}));
