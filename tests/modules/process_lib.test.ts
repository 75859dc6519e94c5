// What hyperware_process_lib (src/vfs/*.rs, kv.rs, sqlite.rs, timer.rs) sends to the
// storage modules and what it parses back. Bodies are written out as serde_json prints
// the Rust types (field order included); each check is what the library's match arm
// needs: the response variant, the blob get_blob() reads, the error JSON.

import { assert, assertEquals } from "../assert.ts";
import { textEncoder, VFS_PROCESS_ID } from "../../wire/core.ts";
import { createVfsModule } from "../../modules/vfs/mod.ts";
import { call, moduleAddress, OUR, requestKm, TestCtx } from "./ctx.ts";
import {
  appBatch,
  appCall,
  bootStorageNode,
  type StorageNode,
  writeStoragePackage,
} from "./node_helpers.ts";

const VFS = moduleAddress(VFS_PROCESS_ID);
const MODULE_APP = `${OUR}@app:myapp:pub.os`;
const APP = "our@app:storage:test.os";
const dec = (b?: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array());

async function vfsAlone(
  fn: (
    send: (body: string, blob?: string) => Promise<{
      text: string;
      blob?: Uint8Array;
    }>,
    home: string,
  ) => Promise<void>,
) {
  const home = await Deno.makeTempDir({ prefix: "hd-plib-vfs-" });
  const ctx = new TestCtx(home);
  const vfs = createVfsModule();
  await vfs.start(ctx);
  try {
    await fn(async (body, blob) => {
      const opts = blob === undefined ? {} : { blob: textEncoder.encode(blob) };
      const r = await call(ctx, vfs, requestKm(MODULE_APP, VFS, body, opts));
      return { text: dec(r!.body), blob: r!.blob };
    }, home);
  } finally {
    await vfs.shutdown?.();
    await Deno.remove(home, { recursive: true });
  }
}

async function withNode(fn: (n: StorageNode) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "hd-plib-node-" });
  const n = await bootStorageNode(`${root}/home`);
  try {
    await n.node.installPackage(await writeStoragePackage(root));
    await fn(n);
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("process_lib vfs: File::read_at past the end is tokio's early eof, cursor at the end", async () => {
  await vfsAlone(async (send) => {
    const f = "/myapp:pub.os/tmp/f";
    assertEquals((await send(`{"path":"${f}","action":"Write"}`, "hello")).text, '"Ok"');
    assertEquals(
      (await send(`{"path":"${f}","action":{"Seek":{"Start":3}}}`)).text,
      '{"SeekFrom":{"new_offset":3}}',
    );
    // Hyperdrive reads with tokio's read_exact: a short read fails with "early eof"
    // after consuming what was there
    assertEquals(
      (await send(`{"path":"${f}","action":{"ReadExact":{"length":10}}}`)).text,
      '{"Err":{"IOError":"early eof"}}',
    );
    const rest = await send(`{"path":"${f}","action":"ReadToEnd"}`);
    assertEquals([rest.text, rest.blob?.length], ['"Read"', 0]);
    // an exact read that fits is unaffected
    await send(`{"path":"${f}","action":{"Seek":{"Start":1}}}`);
    const ok = await send(`{"path":"${f}","action":{"ReadExact":{"length":4}}}`);
    assertEquals([ok.text, dec(ok.blob)], ['"Read"', "ello"]);
  });
});

Deno.test("process_lib vfs: File::copy of a directory answers Rust's text and no host path", async () => {
  await vfsAlone(async (send, home) => {
    const d = "/myapp:pub.os/tmp";
    assertEquals((await send(`{"path":"${d}/sub","action":"CreateDir"}`)).text, '"Ok"');
    const r = await send(`{"path":"${d}/sub","action":{"CopyFile":{"new_path":"${d}/copy"}}}`);
    assert(!r.text.includes(home), r.text);
    assertEquals(
      r.text,
      '{"Err":{"IOError":"the source path is neither a regular file nor a symlink to a regular file"}}',
    );
  });
});

Deno.test("process_lib timer: set_and_await_timer(999) is answered inside its 1 s timeout", async () => {
  await withNode(async ({ node }) => {
    // set_and_await_timer(d) sends {"SetTimer":d} expecting a response within d/1000+1 s.
    // Hyperdrive pops about 1 ms early, so d = 999 is answered. Popping at 999 ms or later
    // loses every time (the deadline is 1000 ms after the send); five sequential tries
    // leave room for scheduling hiccups on a loaded 2-core machine (one run in many
    // lost all three it had before) without hiding that.
    const t = { target: "timer:distro:sys", body: '{"SetTimer":999}', timeout: 1 };
    const r = await appBatch(node, APP, [t, t, t, t, t]);
    const answered = r.filter((x) => x.sendError === undefined);
    assert(answered.length >= 1, JSON.stringify(r.map((x) => x.sendError)));
    for (const a of answered) assertEquals([a.text, a.blob], ["", null]);
  });
});

Deno.test("process_lib flows: logging's file, serve_ui's traversal, empty blobs", async () => {
  await withNode(async ({ node }) => {
    const pkg = '{"package_name":"storage","publisher_node":"test.os"}';
    const vfs = (path: string, action: string, blob?: string) => ({
      target: "vfs:distro:sys",
      body: `{"path":"${path}","action":${action}}`,
      blob: blob === undefined ? undefined : textEncoder.encode(blob),
    });
    const log = "/storage:test.os/log/app.log";
    // logging::init_logging: create_drive, open_file(create), then per line
    // metadata + append (and File's Drop sends CloseFile without expecting a response)
    const r = await appBatch(node, APP, [
      vfs("/storage:test.os/log", '"CreateDrive"'),
      vfs(log, '{"OpenFile":{"create":true}}'),
      vfs(log, '"Metadata"'),
      vfs(log, '"Append"', "line 1\n"),
      vfs(log, '"Metadata"'),
      vfs(log, '"Read"'),
      vfs(log, '"Write"', "line 2\n"),
      // Write replaces the file but, as in Hyperdrive, the open handle's cursor stays
      // where Append left it (7); OpenFile rewinds it
      vfs(log, '"ReadToString"'),
      vfs(log, '{"OpenFile":{"create":false}}'),
      vfs(log, '"ReadToString"'),
      // Directory::read, open_dir(create=false), remove_path -> metadata then remove_file
      vfs("/storage:test.os/log", '"ReadDir"'),
      vfs("/storage:test.os/log", '"Metadata"'),
      // File::read of an empty file: get_blob() must be Some (empty), not None
      vfs("/storage:test.os/tmp/empty", '"CreateFile"'),
      vfs("/storage:test.os/tmp/empty", '"Read"'),
      vfs("/storage:test.os/tmp/empty", '{"ReadExact":{"length":0}}'),
      vfs(log, '"RemoveFile"'),
      // kv set_raw of an empty value, then get_raw needs the (empty) blob back
      { target: "kv:distro:sys", body: `{"package_id":${pkg},"db":"e","action":"Open"}` },
      {
        target: "kv:distro:sys",
        body: `{"package_id":${pkg},"db":"e","action":{"Set":{"key":[1],"tx_id":null}}}`,
        blob: new Uint8Array(),
      },
      { target: "kv:distro:sys", body: `{"package_id":${pkg},"db":"e","action":{"Get":[1]}}` },
      // Sqlite::read with no rows: the blob is "[]"
      { target: "sqlite:distro:sys", body: `{"package_id":${pkg},"db":"e","action":"Open"}` },
      {
        target: "sqlite:distro:sys",
        body: `{"package_id":${pkg},"db":"e","action":{"Query":"SELECT 1 WHERE 0"}}`,
        blob: textEncoder.encode("[]"),
      },
    ]);
    assertEquals(r.map((x) => x.text), [
      '"Ok"',
      '"Ok"',
      '{"Metadata":{"file_type":"File","len":0}}',
      '"Ok"',
      '{"Metadata":{"file_type":"File","len":7}}',
      '"Read"',
      '"Ok"',
      '{"ReadToString":""}',
      '"Ok"',
      '{"ReadToString":"line 2\\n"}',
      '{"ReadDir":[{"path":"storage:test.os/log/app.log","file_type":"File"}]}',
      '{"Metadata":{"file_type":"Directory","len":4096}}',
      '"Ok"',
      '"Read"',
      '"Read"',
      '"Ok"',
      '"Ok"',
      '"Ok"',
      '{"Get":[1]}',
      '"Ok"',
      '"Read"',
    ]);
    assertEquals(dec(r[5].blob), "line 1\n");
    for (const i of [13, 14, 18]) {
      assertEquals([r[i].blob?.length, r[i].mime], [0, "application/octet-stream"], `call ${i}`);
    }
    assertEquals(dec(r[20].blob), "[]");

    // http::server::serve_ui walks "<package_id>/pkg/<dir>" (no leading slash) with
    // ReadDir, queues the directory entries' paths as given, Reads the files by them,
    // and binds path.replace(initial_path, "")
    const initial = "storage:test.os/pkg";
    const queue = [initial];
    const bound: string[] = [];
    while (queue.length) {
      const path = queue.shift()!;
      const ls = await appCall(node, APP, vfs(path, '"ReadDir"'));
      const entries = (ls.json as { ReadDir: { path: string; file_type: string }[] }).ReadDir;
      for (const e of entries) {
        if (e.file_type === "Directory") queue.push(e.path);
        if (e.file_type !== "File") continue;
        const file = await appCall(node, APP, vfs(e.path, '"Read"'));
        assertEquals(file.text, '"Read"');
        assert(file.blob && file.blob.length > 0, e.path);
        bound.push(e.path.replace(initial, ""));
      }
    }
    assertEquals(bound.sort(), ["/manifest.json", "/storage_app.js"]);
  });
});
