// vfs:distro:sys bounds: AddZip inflates off the kernel's thread and refuses zip bombs
// (by what entries really inflate to, not only their headers) writing nothing; blobs,
// reads, listings and bytes in flight have limits; a request has a time limit.

import { assert, assertEquals } from "../assert.ts";
import { zipSync } from "fflate";
import { textEncoder, VFS_PROCESS_ID } from "../../wire/core.ts";
import { createVfsModule, type VfsModuleOptions } from "../../modules/vfs/mod.ts";
import { call, moduleAddress, OUR, requestKm, type SendOpts, TestCtx } from "./ctx.ts";

const VFS = moduleAddress(VFS_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;
const OTHER = `${OUR}@other:myapp:pub.os`;
const D = "/myapp:pub.os/data";

async function setup(opts: VfsModuleOptions = {}) {
  const home = await Deno.makeTempDir({ prefix: "hd-vfs-limits-" });
  const ctx = new TestCtx(home);
  const vfs = createVfsModule(opts);
  await vfs.start(ctx);
  const send = async (path: string, action: unknown, o: SendOpts = {}, from = APP) =>
    (await call(ctx, vfs, requestKm(from, VFS, { path, action }, o)))!;
  await send(D, "CreateDrive");
  const cleanup = async () => {
    await vfs.shutdown?.();
    await Deno.remove(home, { recursive: true });
  };
  return { home, send, cleanup, drive: `${home}/vfs/myapp:pub.os/data` };
}

const text = (s: string) => textEncoder.encode(s);
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const ioErr = (r: { json: unknown }) => (r.json as { Err: { IOError: string } }).Err.IOError;
const parseErr = (r: { json: unknown }) =>
  (r.json as { Err: { ParseError: { error: string } } }).Err.ParseError.error;

/** Rewrites the uncompressed size (local header and central directory) of every entry. */
function lieAboutSizes(zip: Uint8Array, size: number): Uint8Array {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  for (let i = 0; i + 4 <= out.length; i++) {
    const sig = view.getUint32(i, true);
    if (sig === 0x04034b50) view.setUint32(i + 22, size, true);
    if (sig === 0x02014b50) view.setUint32(i + 24, size, true);
  }
  return out;
}

Deno.test("vfs: a big AddZip inflates off the kernel's thread", async () => {
  const { send, cleanup, drive } = await setup();
  try {
    const zeros = new Uint8Array(64 * 1024 * 1024);
    const zip = zipSync({ "a.bin": zeros, "b.bin": zeros, "c.bin": zeros });
    let done = false;
    const unzipping = send(`${D}/big`, "AddZip", { blob: zip }).finally(() => done = true);
    // while the archive inflates, timers fire and another process's requests are answered:
    // were the inflation on this thread, none of it could happen before AddZip's answer
    let ticks = 0;
    let answered = 0;
    while (!done) {
      await new Promise((r) => setTimeout(r, 10));
      if (done) break;
      ticks++;
      const r = await send("/myapp:pub.os/data", "Metadata", {}, OTHER);
      if (!done && (r.json as { Metadata?: unknown }).Metadata) answered++;
    }
    const r = await unzipping;
    assertEquals(r.json, "Ok");
    assertEquals((await Deno.stat(`${drive}/big/c.bin`)).size, zeros.length);
    assert(ticks >= 3 && answered >= 2, `during AddZip: ${ticks} ticks, ${answered} answers`);
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: zip bombs are refused while inflating; nothing is written", async () => {
  const { send, cleanup, drive } = await setup({
    limits: { maxUnzippedBytes: 1024 * 1024, maxEntries: 3 },
  });
  try {
    const big = new Uint8Array(4 * 1024 * 1024);
    // headers that lie: 4 MiB of data declared as 100 bytes each
    const liar = lieAboutSizes(zipSync({ "ok.txt": text("fine"), "big.bin": big }), 100);
    const r1 = await send(`${D}/liar`, "AddZip", { blob: liar });
    assertEquals(
      parseErr(r1),
      "zip entry ok.txt does not inflate to the 100 bytes its header declares",
    );
    const liar2 = lieAboutSizes(zipSync({ "big.bin": big }), 100);
    assertEquals(
      parseErr(await send(`${D}/liar2`, "AddZip", { blob: liar2 })),
      "zip entry big.bin does not inflate to the 100 bytes its header declares",
    );
    // honest headers over the limit
    const honest = await send(`${D}/honest`, "AddZip", { blob: zipSync({ "big.bin": big }) });
    assertEquals(parseErr(honest), "archive expands beyond vfs's limit of 1048576 bytes");
    // many entries
    const many = zipSync({ a: text("a"), b: text("b"), c: text("c"), d: text("d") });
    assertEquals(
      parseErr(await send(`${D}/many`, "AddZip", { blob: many })),
      "archive has 4 entries, over vfs's limit of 3",
    );
    // a bad checksum, found before writing
    const good = zipSync({ "x.txt": text("hello") }, { level: 0 });
    const flipped = good.slice();
    flipped[flipped.indexOf(0x68)] = 0x6a; // "hello" -> "jello", CRC unchanged
    assertEquals(
      (await send(`${D}/crc`, "AddZip", { blob: flipped })).json,
      { Err: { IOError: "Invalid checksum" } },
    );
    // deflated entries (inflated natively in one call): damaged data, a wrong checksum
    const deflated = zipSync({ "y.txt": text("hello ".repeat(50)) }, { level: 6 });
    const view = new DataView(deflated.buffer);
    const damaged = deflated.slice();
    damaged[30 + view.getUint16(26, true) + view.getUint16(28, true)] |= 0x06; // BTYPE 11
    assertEquals(
      (await send(`${D}/damaged`, "AddZip", { blob: damaged })).json,
      { Err: { IOError: "corrupt deflate stream" } },
    );
    const central = deflated.findLastIndex((_b, i) =>
      i + 4 <= deflated.length && view.getUint32(i, true) === 0x02014b50
    );
    const wrongCrc = deflated.slice();
    wrongCrc[central + 16] ^= 0xff;
    assertEquals(
      (await send(`${D}/crc2`, "AddZip", { blob: wrongCrc })).json,
      { Err: { IOError: "Invalid checksum" } },
    );
    for (const dir of ["liar", "liar2", "honest", "many", "crc", "damaged", "crc2"]) {
      assert(!await exists(`${drive}/${dir}`), `${dir} was created`);
    }
    // within the limits it unpacks
    assertEquals((await send(`${D}/fine`, "AddZip", { blob: good })).json, "Ok");
    assertEquals(await Deno.readTextFile(`${drive}/fine/x.txt`), "hello");
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: blob, read and listing limits", async () => {
  const { send, cleanup } = await setup({
    limits: { maxBlobBytes: 100, maxReadBytes: 50, maxDirEntries: 3 },
  });
  try {
    const f = `${D}/f.txt`;
    assertEquals((await send(f, "Write", { blob: new Uint8Array(100) })).json, "Ok");
    for (const action of ["Write", "WriteAll", "Append", "AddZip"]) {
      assertEquals(
        ioErr(await send(f, action, { blob: new Uint8Array(101) })),
        "File too large: blob of 101 bytes is over vfs's limit of 100 bytes",
        action,
      );
    }
    const over = "File too large: read of 100 bytes is over vfs's limit of 50 bytes";
    assertEquals(ioErr(await send(f, "Read")), over);
    assertEquals(ioErr(await send(f, "ReadToEnd")), over);
    assertEquals(ioErr(await send(f, "ReadToString")), over);
    assertEquals(
      ioErr(await send(f, { ReadExact: { length: 51 } })),
      "File too large: read of 51 bytes is over vfs's limit of 50 bytes",
    );
    // the rest from the cursor is what counts
    await send(f, { Seek: { Start: 60 } });
    assertEquals((await send(f, "ReadToEnd")).blob?.length, 40);
    assertEquals((await send(f, { ReadExact: { length: 50 } })).json, {
      Err: { IOError: "early eof" },
    });
    for (const n of ["a", "b"]) await send(`${D}/${n}`, "CreateDir");
    assertEquals(((await send(D, "ReadDir")).json as { ReadDir: unknown[] }).ReadDir.length, 3);
    await send(`${D}/c`, "CreateDir");
    assertEquals(
      ioErr(await send(D, "ReadDir")),
      "Argument list too long: directory has over vfs's limit of 3 entries",
    );
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: bytes in flight across processes are bounded", async () => {
  const { send, cleanup } = await setup({ limits: { maxInflightBytes: 1000 } });
  try {
    // two processes write at once: the second blob does not fit beside the first
    const a = send(`${D}/a`, "Write", { blob: new Uint8Array(700) });
    const b = send(`${D}/b`, "Write", { blob: new Uint8Array(700) }, OTHER);
    assertEquals((await a).json, "Ok");
    assertEquals(
      ioErr(await b),
      "Cannot allocate memory: requests in flight are over vfs's limit of 1000 bytes; retry later",
    );
    // once the first is done, it fits
    assertEquals((await send(`${D}/b`, "Write", { blob: new Uint8Array(700) }, OTHER)).json, "Ok");
    // reads count too: a file of 700 bytes read by both at once
    const r1 = send(`${D}/a`, "Read");
    const r2 = send(`${D}/b`, "Read", {}, OTHER);
    const outs = [await r1, await r2].map((r) => r.blob?.length ?? ioErr(r));
    assert(outs.includes(700), JSON.stringify(outs));
    assertEquals((await send(`${D}/a`, "Read")).blob?.length, 700);
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: a request past the time limit is answered with an error", async () => {
  const { send, cleanup } = await setup({ requestTimeoutMs: 50 });
  try {
    const f = `${D}/big.bin`;
    assertEquals((await send(f, "CreateFile")).json, "Ok");
    assertEquals((await send(f, { SetLen: 512 * 1024 * 1024 })).json, "Ok"); // sparse
    const t0 = performance.now();
    const r = await send(f, "Hash");
    assertEquals(ioErr(r), "timed out: past vfs's time limit of 50 ms");
    assert(performance.now() - t0 < 1000, "answered late");
    // the module keeps serving
    assertEquals(((await send(f, "Len")).json as { Len: number }).Len, 512 * 1024 * 1024);
  } finally {
    await cleanup();
  }
});
