// The package zip as kit writes it (kit/zip.ts), and builds that give the same zip bytes for the
// same sources wherever they are built: components built without the cache, in other
// directories, with another TMPDIR.

import { inflateSync, unzipSync } from "fflate";
import { assert, assertEquals } from "../assert.ts";
import { collectEntries, comparePaths, crc32, zipDirectory, zipEntries } from "../../kit/zip.ts";
import { buildPackage, zipFilename } from "../../kit/build.ts";
import { bundleProcess } from "../../kit/component.ts";
import { newPackage } from "../../kit/new.ts";
import { collector, sha256, withTempDir } from "./helpers.ts";

const enc = new TextEncoder();

/** A tree with the cases that decide order and format. */
async function writeTree(dir: string) {
  await Deno.mkdir(`${dir}/a/b`, { recursive: true });
  await Deno.mkdir(`${dir}/a-b`);
  await Deno.mkdir(`${dir}/d`);
  const bin = new Uint8Array(70_000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7919) % 251;
  await Deno.writeFile(`${dir}/a/b/c.wasm`, bin);
  await Deno.writeTextFile(`${dir}/a-b/x`, "x".repeat(1000));
  await Deno.writeTextFile(`${dir}/b.txt`, "hello\n");
  await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
  await Deno.writeTextFile(`${dir}/é.txt`, "accent");
}

const CHILD = new URL("./build_component_child.ts", import.meta.url).pathname;

Deno.test("zip: crc32 is the IEEE check value", () => {
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
});

Deno.test("zip: paths sort as Rust's Path sorts them (component by component)", () => {
  const names = ["a-b", "a/b", "a", "a-b/x", "b", "a/b/c", "é", "Z"];
  assertEquals(names.sort(comparePaths), ["Z", "a", "a/b", "a/b/c", "a-b", "a-b/x", "b", "é"]);
});

Deno.test("zip: kit's entries, order and header fields", async () => {
  await withTempDir(async (dir) => {
    await writeTree(dir);
    const entries = await collectEntries(dir);
    assertEquals(entries.map((e) => e.name), [
      "a/",
      "a/b/",
      "a/b/c.wasm",
      "a-b/",
      "a-b/x",
      "b.txt",
      "d/",
      "empty",
      "é.txt",
    ]);
    const zip = zipEntries(entries);
    const v = new DataView(zip.buffer);
    let at = 0;
    const centralAt = v.getUint32(zip.length - 6, true);
    let c = centralAt;
    for (const e of entries) {
      const name = enc.encode(e.name);
      const isDir = e.data === undefined;
      // local header
      assertEquals(v.getUint32(at, true), 0x04034b50);
      assertEquals(v.getUint16(at + 4, true), 20, "version needed 2.0");
      assertEquals(v.getUint16(at + 6, true), e.name.startsWith("é") ? 0x800 : 0, "flags");
      assertEquals(v.getUint16(at + 8, true), isDir ? 0 : 8, "stored dirs, deflated files");
      assertEquals(v.getUint16(at + 10, true), 0, "00:00");
      assertEquals(v.getUint16(at + 12, true), (43 << 9) | (6 << 5) | 19, "2023-06-19");
      const crc = v.getUint32(at + 14, true);
      const csize = v.getUint32(at + 18, true);
      const usize = v.getUint32(at + 22, true);
      assertEquals(v.getUint16(at + 26, true), name.length);
      assertEquals(v.getUint16(at + 28, true), 0, "no extra field");
      assertEquals(zip.subarray(at + 30, at + 30 + name.length), name);
      const body = zip.subarray(at + 30 + name.length, at + 30 + name.length + csize);
      const data = isDir ? new Uint8Array(0) : inflateSync(body);
      assertEquals(data, e.data ?? new Uint8Array(0));
      assertEquals(usize, data.length);
      assertEquals(crc, isDir ? 0 : crc32(data));
      // central directory entry
      assertEquals(v.getUint32(c, true), 0x02014b50);
      assertEquals(v.getUint16(c + 4, true), (3 << 8) | 46, "made by Unix, 4.6");
      assertEquals(v.getUint32(c + 16, true), crc);
      assertEquals(v.getUint16(c + 30, true), 0, "no extra field");
      assertEquals(v.getUint16(c + 32, true), 0, "no comment");
      assertEquals(v.getUint32(c + 38, true) >>> 16, isDir ? 0o40755 : 0o100755);
      assertEquals(v.getUint32(c + 42, true), at);
      c += 46 + name.length;
      // no data descriptor: the next header follows the data
      at += 30 + name.length + csize;
    }
    assertEquals(at, centralAt);
    assertEquals(v.getUint32(c, true), 0x06054b50);
    assertEquals(v.getUint16(c + 10, true), entries.length);
    assertEquals(c + 22, zip.length, "no archive comment");
    // any zip reader reads it back
    const back = unzipSync(zip);
    assertEquals(new TextDecoder().decode(back["a-b/x"]), "x".repeat(1000));
    assertEquals(back["empty"].length, 0);
    // the same tree, the same bytes (pinned: a change here changes every package hash)
    assertEquals(
      await sha256(await zipDirectory(dir)),
      "310b0f7b9855530dec7db431b9283ef28b4937319ad49740b053469413e690cc",
    );
  });
});

Deno.test("zip: the file name is kit's (Path::with_extension on <package>:<publisher>)", () => {
  assertEquals(zipFilename("/p", "my-chat-app:template.os"), "/p/target/my-chat-app:template.zip");
  assertEquals(zipFilename("/p", "app:me"), "/p/target/app:me.zip");
  assertEquals(zipFilename("/p", "app:a.b.c"), "/p/target/app:a.b.zip");
});

Deno.test({
  name: "build: the same sources give the same zip, built anywhere, components not cached",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const one = `${dir}/one/deep/path/my-echo`;
      const two = `${dir}/two/my-echo`;
      await Deno.mkdir(`${dir}/one/deep/path`, { recursive: true });
      await Deno.mkdir(`${dir}/two`, { recursive: true });
      for (const d of [one, two]) await newPackage({ dir: d, template: "echo" });
      // the component itself, twice without the cache, with different temporary directories
      const code = await bundleProcess(`${one}/my-echo/src/lib.ts`);
      assertEquals(code, await bundleProcess(`${two}/my-echo/src/lib.ts`), "same bundle");
      // each build in its own process with its own TMPDIR (the environment is shared by the
      // tests running in parallel in this one)
      await Deno.writeTextFile(`${dir}/code.js`, code);
      const hashes: string[] = [];
      for (const t of [`${dir}/tmp-a`, `${dir}/tmp-bb`]) {
        await Deno.mkdir(t);
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", CHILD, `${dir}/code.js`, `${t}.wasm`],
          env: { TMPDIR: t },
          stdout: "inherit",
          stderr: "inherit",
        }).output();
        assert(out.success, "the component build in its own process");
        hashes.push(await sha256(await Deno.readFile(`${t}.wasm`)));
      }
      assertEquals(hashes[0], hashes[1], "a component's bytes depend only on its source");
      // whole packages
      const a = await buildPackage({ dir: one, log: collector().log });
      const b = await buildPackage({ dir: two, log: collector().log });
      assertEquals(a.zip, `${one}/target/my-echo:template.zip`);
      assertEquals(a.hash, b.hash);
      assertEquals(a.hash, await sha256(await Deno.readFile(b.zip)));
      assertEquals(await sha256(await Deno.readFile(`${one}/pkg/my-echo.wasm`)), hashes[0]);
      // kit's entries: api.zip, manifest.json, the component
      assertEquals(Object.keys(unzipSync(await Deno.readFile(a.zip))), [
        "api.zip",
        "manifest.json",
        "my-echo.wasm",
      ]);
      // a change to the source changes the hash
      const src = `${two}/my-echo/src/lib.ts`;
      await Deno.writeTextFile(
        src,
        (await Deno.readTextFile(src)).replace('stringify("Ack")', 'stringify("Ok")'),
      );
      const c = await buildPackage({ dir: two, log: collector().log });
      assert(c.hash !== a.hash, "another source, another zip");
    });
  },
});
