// vfs:distro:sys driven directly through start/handleMessage, on real files.

import { assert, assertEquals } from "../assert.ts";
import { createHash } from "node:crypto";
import { zipSync } from "fflate";
import { parseProcessId, textEncoder, VFS_PROCESS_ID } from "../../wire/core.ts";
import { createVfsModule } from "../../modules/vfs/mod.ts";
import { Mailbox } from "../../kernel/mailbox.ts";
import {
  driveDir,
  plainSegments,
  vfsHostPath,
  VfsPathError,
  vfsRoot,
  vfsSegments,
} from "../../kernel/vfs_layout.ts";
import { call, moduleAddress, OUR, requestKm, type SendOpts, TestCtx } from "./ctx.ts";

const VFS = moduleAddress(VFS_PROCESS_ID);
const APP = `${OUR}@app:myapp:pub.os`;
const OTHER = `${OUR}@other:otherapp:pub.os`;
const ROOTY = `${OUR}@boss:bossapp:sys`;

async function setup(opts = {}) {
  const home = await Deno.makeTempDir({ prefix: "hd-vfs-" });
  const ctx = new TestCtx(home);
  const vfs = createVfsModule(opts);
  await vfs.start(ctx);
  const send = async (from: string, path: string, action: unknown, o: SendOpts = {}) => {
    const r = await call(ctx, vfs, requestKm(from, VFS, { path, action }, o));
    return r!;
  };
  const cleanup = async () => {
    await vfs.shutdown?.();
    await Deno.remove(home, { recursive: true });
  };
  return { home, ctx, vfs, send, cleanup };
}

const text = (s: string) => textEncoder.encode(s);
const decode = (b?: Uint8Array) => new TextDecoder().decode(b);

Deno.test("vfs: CreateDrive grants read/write caps and makes default drives", async () => {
  const { home, ctx, send, cleanup } = await setup();
  try {
    const r = await send(APP, "/myapp:pub.os/data", "CreateDrive");
    assertEquals(decode(r.body), '"Ok"');
    assert((await Deno.stat(`${home}/vfs/myapp:pub.os/data`)).isDirectory);
    assert((await Deno.stat(`${home}/vfs/myapp:pub.os/pkg`)).isDirectory);
    assert((await Deno.stat(`${home}/vfs/myapp:pub.os/tmp`)).isDirectory);
    const caps = ctx.capsOf(parseProcessId("app:myapp:pub.os")).map((c) => JSON.parse(c.params));
    assertEquals(caps, [
      { kind: "read", drive: "/myapp:pub.os/data" },
      { kind: "write", drive: "/myapp:pub.os/data" },
    ]);
    // another package may not create a drive in ours
    const r2 = await send(OTHER, "/myapp:pub.os/stolen", "CreateDrive");
    assertEquals(r2.json, { Err: "NoWriteCap" });
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: file actions with cursor, exact JSON shapes", async () => {
  const { home, send, cleanup } = await setup();
  try {
    const d = "/myapp:pub.os/data";
    await send(APP, d, "CreateDrive");
    assertEquals((await send(APP, `${d}/a.txt`, "CreateFile")).json, "Ok");
    assertEquals((await send(APP, `${d}/a.txt`, "WriteAll", { blob: text("hello") })).json, "Ok");
    assertEquals(
      decode((await send(APP, `${d}/a.txt`, { Seek: { Start: 1 } })).body),
      '{"SeekFrom":{"new_offset":1}}',
    );
    const ex = await send(APP, `${d}/a.txt`, { ReadExact: { length: 3 } });
    assertEquals([ex.json, decode(ex.blob)], ["Read", "ell"]);
    assertEquals(decode((await send(APP, `${d}/a.txt`, "ReadToEnd")).blob), "o");
    const short = await send(APP, `${d}/a.txt`, { ReadExact: { length: 1 } });
    assertEquals(short.json, { Err: { IOError: "early eof" } });
    await send(APP, `${d}/a.txt`, "Append", { blob: text(" world") });
    assertEquals((await send(APP, `${d}/a.txt`, { Seek: { Current: -5 } })).json, {
      SeekFrom: { new_offset: 6 },
    });
    assertEquals((await send(APP, `${d}/a.txt`, "ReadToString")).json, { ReadToString: "world" });
    assertEquals(decode((await send(APP, `${d}/a.txt`, "Len")).body), '{"Len":11}');
    assertEquals(
      decode((await send(APP, `${d}/a.txt`, "Metadata")).body),
      '{"Metadata":{"file_type":"File","len":11}}',
    );
    const h = await send(APP, `${d}/a.txt`, "Hash");
    const want = Array.from(createHash("sha256").update("hello world").digest());
    assertEquals(h.json, { Hash: want });
    assertEquals((await send(APP, `${d}/a.txt`, { SetLen: 5 })).json, "Ok");
    assertEquals(decode((await send(APP, `${d}/a.txt`, "Read")).blob), "hello");
    assertEquals((await send(APP, `${d}/a.txt`, "SyncAll")).json, "Ok");
    assertEquals((await send(APP, `${d}/a.txt`, { OpenFile: { create: false } })).json, "Ok");
    assertEquals(decode((await send(APP, `${d}/a.txt`, "ReadToEnd")).blob), "hello");
    assertEquals((await send(APP, `${d}/a.txt`, "CloseFile")).json, "Ok");

    // Write replaces the whole file and creates it
    assertEquals((await send(APP, `${d}/b.txt`, "Write", { blob: text("bee") })).json, "Ok");
    assertEquals(await Deno.readTextFile(`${home}/vfs/myapp:pub.os/data/b.txt`), "bee");
    assertEquals(
      (await send(APP, `${d}/b.txt`, { CopyFile: { new_path: `${d}/c.txt` } })).json,
      "Ok",
    );
    assertEquals(
      (await send(APP, `${d}/c.txt`, { Rename: { new_path: `${d}/sub.txt` } })).json,
      "Ok",
    );
    assertEquals((await send(APP, `${d}/dir`, "CreateDir")).json, "Ok");
    assertEquals((await send(APP, `${d}/dir/x/y`, "CreateDirAll")).json, "Ok");
    const ls = (await send(APP, d, "ReadDir")).json as { ReadDir: unknown[] };
    const sorted = [...ls.ReadDir].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
    assertEquals(sorted, [
      { path: "myapp:pub.os/data/a.txt", file_type: "File" },
      { path: "myapp:pub.os/data/b.txt", file_type: "File" },
      { path: "myapp:pub.os/data/dir", file_type: "Directory" },
      { path: "myapp:pub.os/data/sub.txt", file_type: "File" },
    ]);
    assertEquals((await send(APP, `${d}/dir`, "RemoveDir")).json, {
      Err: { IOError: "Directory not empty (os error 39)" },
    });
    assertEquals((await send(APP, `${d}/dir`, "RemoveFile")).json, {
      Err: { IOError: "Is a directory (os error 21)" },
    });
    assertEquals((await send(APP, `${d}/dir`, "RemoveDirAll")).json, "Ok");
    assertEquals((await send(APP, `${d}/sub.txt`, "RemoveFile")).json, "Ok");
    assertEquals(
      decode((await send(APP, `${d}/sub.txt`, "Read")).body),
      '{"Err":{"IOError":"No such file or directory (os error 2)"}}',
    );
    assertEquals((await send(APP, `${d}/nope`, { OpenFile: { create: false } })).json, {
      Err: { IOError: "No such file or directory (os error 2)" },
    });
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: response metadata, rsvp, and no answer when none expected", async () => {
  const { ctx, vfs, send, cleanup } = await setup();
  try {
    const d = "/myapp:pub.os/data";
    const r = await send(APP, d, "CreateDrive", { metadata: '{"m":1}' });
    assertEquals(r.metadata, '{"m":1}');
    const before = ctx.sent.length;
    await vfs.handleMessage(requestKm(APP, VFS, { path: `${d}/q`, action: "Write" }, {
      blob: text("x"),
      expectsResponse: false,
    }));
    // an error without expects_response is not answered either
    await vfs.handleMessage(requestKm(APP, VFS, { path: `${d}/none`, action: "Read" }, {
      expectsResponse: false,
    }));
    assertEquals(ctx.sent.length, before);
    const rsvp = { node: OUR, process: parseProcessId("waiter:myapp:pub.os") };
    const km = requestKm(APP, VFS, { path: `${d}/q`, action: "Read" }, {
      expectsResponse: false,
      rsvp,
    });
    await vfs.handleMessage(km);
    const out = ctx.sent.at(-1)!;
    assertEquals(out.target, rsvp);
    assertEquals(decode(out.lazyLoadBlob?.bytes), "x");
    assertEquals(out.lazyLoadBlob?.mime, "application/octet-stream");
    // Hyperdrive's vfs answers errors only when a response is expected: an rsvp alone
    // gets successes, not errors
    const n0 = ctx.sent.length;
    await vfs.handleMessage(requestKm(APP, VFS, { path: `${d}/none`, action: "Read" }, {
      expectsResponse: false,
      rsvp,
    }));
    assertEquals(ctx.sent.length, n0);
    // and error answers carry no metadata
    const err = await send(APP, `${d}/none`, "Read", { metadata: '{"m":2}' });
    assertEquals([err.json, err.metadata], [{
      Err: { IOError: "No such file or directory (os error 2)" },
    }, undefined]);
    // requests from another node are ignored
    const n = ctx.sent.length;
    await vfs.handleMessage(
      requestKm(`evil.os@app:myapp:pub.os`, VFS, { path: d, action: "ReadDir" }),
    );
    assertEquals(ctx.sent.length, n);
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: capabilities gate other packages; root cap and kernel pass", async () => {
  const { ctx, send, cleanup } = await setup();
  try {
    const d = "/myapp:pub.os/data";
    await send(APP, d, "CreateDrive");
    await send(APP, `${d}/f`, "Write", { blob: text("secret") });
    assertEquals((await send(OTHER, `${d}/f`, "Read")).json, { Err: "NoReadCap" });
    assertEquals((await send(OTHER, `${d}/f`, "Write", { blob: text("x") })).json, {
      Err: "NoWriteCap",
    });
    assertEquals(
      (await send(OTHER, `${d}/f`, { Rename: { new_path: "/otherapp:pub.os/tmp/f" } }))
        .json,
      { Err: "NoWriteCap" },
    );
    // copying into another package needs a write cap on that drive too
    assertEquals(
      (await send(APP, `${d}/f`, { CopyFile: { new_path: "/otherapp:pub.os/tmp/f" } })).json,
      { Err: "NoWriteCap" },
    );
    const other = parseProcessId("other:otherapp:pub.os");
    ctx.grantCapabilities(other, [{
      issuer: { node: OUR, process: VFS_PROCESS_ID },
      params: '{"kind": "read", "drive": "/myapp:pub.os/data"}',
    }]);
    assertEquals(decode((await send(OTHER, `${d}/f`, "Read")).blob), "secret");
    assertEquals((await send(OTHER, `${d}/f`, "Append", { blob: text("x") })).json, {
      Err: "NoWriteCap",
    });
    // root: vfs-issued {"root":true}
    assertEquals((await send(ROOTY, "/", "ReadDir")).json, { Err: "NoReadCap" });
    ctx.grantCapabilities(parseProcessId("boss:bossapp:sys"), [{
      issuer: { node: OUR, process: VFS_PROCESS_ID },
      params: '{"root":true}',
    }]);
    const root = (await send(ROOTY, "/", "ReadDir")).json as { ReadDir: { path: string }[] };
    assertEquals(root.ReadDir.map((e) => e.path), ["myapp:pub.os"]);
    const pkgDir = (await send(ROOTY, "/myapp:pub.os", "ReadDir")).json as {
      ReadDir: { path: string }[];
    };
    assertEquals(pkgDir.ReadDir.map((e) => e.path).sort(), [
      "myapp:pub.os/data",
      "myapp:pub.os/pkg",
      "myapp:pub.os/tmp",
    ]);
    assertEquals((await send(ROOTY, `${d}/f`, "Write", { blob: text("root") })).json, "Ok");
    // the kernel itself is not checked
    assertEquals(
      decode((await send(`${OUR}@kernel:distro:sys`, `${d}/f`, "Read")).blob),
      "root",
    );
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: no path escapes a drive, nothing touched", async () => {
  const { home, send, cleanup } = await setup();
  const outside = await Deno.makeTempDir({ prefix: "hd-vfs-outside-" });
  try {
    await Deno.writeTextFile(`${outside}/keep.txt`, "untouched");
    const d = "/myapp:pub.os/data";
    await send(APP, d, "CreateDrive");
    // segments that a later decoding layer could turn into path steps
    const cases: [string, unknown][] = [
      [`${d}/a%2f..%2f..%2fx`, "Write"],
      [`${d}/%2E%2E/x`, "Write"],
      [`${d}/a\\..\\..\\x`, "Write"],
      [`${d}/a\0b`, "Write"],
    ];
    for (const [path, action] of cases) {
      const r = await send(APP, path, action, { blob: text("evil") });
      const err = (r.json as { Err: { ParseError?: unknown } }).Err;
      assert(err && typeof err === "object" && "ParseError" in err, `${path}: ${decode(r.body)}`);
    }
    // `..` climbing above the vfs root: Hyperdrive's MalformedRequest
    for (
      const path of [
        "/..",
        "..",
        `${d}/../../..`,
        `${d}/../../../x`,
        `${d}/../../../../../../etc/passwd`,
        "/myapp:pub.os/../../vfs/myapp:pub.os/data/x",
      ]
    ) {
      assertEquals(
        (await send(APP, path, "Write", { blob: text("evil") })).json,
        { Err: "MalformedRequest" },
        path,
      );
    }
    // a root listing that climbs out is refused too, after the root check
    assertEquals((await send(APP, "/../..", "ReadDir")).json, { Err: "NoReadCap" });
    assertEquals((await send(`${OUR}@kernel:distro:sys`, "/../..", "ReadDir")).json, {
      Err: "MalformedRequest",
    });
    assertEquals([...Deno.readDirSync(home)].map((e) => e.name), ["vfs"]);
    // a host-absolute path is not a vfs path
    assertEquals((await send(APP, "/etc/passwd", "Read")).json, { Err: "MalformedRequest" });
    assertEquals((await send(APP, "//tmp", "Write", { blob: text("x") })).json, {
      Err: "MalformedRequest",
    });
    // a rename target escaping is refused too
    await send(APP, `${d}/f`, "Write", { blob: text("f") });
    const rn = await send(APP, `${d}/f`, { Rename: { new_path: `${d}/../../../../tmp/f` } });
    assertEquals(rn.json, { Err: "MalformedRequest" });
    // symlinks inside a drive are not followed, neither as directory nor as file
    const drive = `${home}/vfs/myapp:pub.os/data`;
    await Deno.symlink(outside, `${drive}/link`);
    await Deno.symlink(`${outside}/keep.txt`, `${drive}/flink`);
    for (
      const [path, action] of [
        [`${d}/link/keep.txt`, "Write"],
        [`${d}/link/new.txt`, "Write"],
        [`${d}/link/keep.txt`, "Read"],
        [`${d}/flink`, "Append"],
        [`${d}/flink`, "Read"],
        [`${d}/link`, "RemoveDirAll"],
        [`${d}/link`, "AddZip"],
      ] as const
    ) {
      const r = await send(APP, path, action, { blob: text("evil") });
      const err = (r.json as { Err: object }).Err;
      assert(
        typeof err === "object" && "ParseError" in err,
        `${path} ${action}: ${decode(r.body)}`,
      );
    }
    const cp = await send(APP, `${d}/f`, { CopyFile: { new_path: `${d}/link/f` } });
    assert("ParseError" in (cp.json as { Err: object }).Err);
    assertEquals(await Deno.readTextFile(`${outside}/keep.txt`), "untouched");
    assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["keep.txt"]);
    assertEquals(await Deno.readTextFile(`${drive}/f`), "f");
  } finally {
    await cleanup();
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("vfs: `..` resolves as Hyperdrive's; capabilities are checked on the resolved drive", async () => {
  const { home, ctx, send, cleanup } = await setup();
  try {
    const ui = `${home}/vfs/myapp:pub.os/pkg/ui`;
    await Deno.mkdir(ui, { recursive: true });
    await Deno.mkdir(`${home}/vfs/otherapp:pub.os/tmp`, { recursive: true });
    await Deno.writeTextFile(`${ui}/index.html`, "<html></html>");
    // what a published app asks for: its own pkg drive, by way of `..`
    const ls = await send(APP, "/myapp:pub.os/pkg/../pkg/ui", "ReadDir");
    assertEquals(ls.json, {
      ReadDir: [{ path: "myapp:pub.os/pkg/ui/index.html", file_type: "File" }],
    });
    const page = await send(APP, "/myapp:pub.os/pkg/./ui/../ui/index.html", "Read");
    assertEquals(decode(page.blob), "<html></html>");
    // within the package: `data/..` lands on the package's drive "x"
    await send(APP, "/myapp:pub.os/data", "CreateDrive");
    assertEquals(
      (await send(APP, "/myapp:pub.os/data/../x", "Write", { blob: text("x") })).json,
      "Ok",
    );
    assertEquals(await Deno.readTextFile(`${home}/vfs/myapp:pub.os/x`), "x");

    // crossing into another package's drive needs that drive's cap, not ours
    const across = "/myapp:pub.os/data/../../otherapp:pub.os/tmp/x";
    assertEquals((await send(APP, across, "Write", { blob: text("y") })).json, {
      Err: "NoWriteCap",
    });
    assertEquals((await send(APP, across, "Read")).json, { Err: "NoReadCap" });
    await Deno.stat(`${home}/vfs/otherapp:pub.os/tmp/x`).then(
      () => assert(false, "written without a cap"),
      () => {},
    );
    ctx.grantCapabilities(parseProcessId("app:myapp:pub.os"), [{
      issuer: { node: OUR, process: VFS_PROCESS_ID },
      params: '{"kind": "write", "drive": "/otherapp:pub.os/tmp"}',
    }]);
    assertEquals((await send(APP, across, "Write", { blob: text("y") })).json, "Ok");
    assertEquals(await Deno.readTextFile(`${home}/vfs/otherapp:pub.os/tmp/x`), "y");
    // write is not read
    assertEquals((await send(APP, across, "Read")).json, { Err: "NoReadCap" });

    // a cap on one drive does not reach a sibling drive through `..`
    await send(APP, "/myapp:pub.os/data/f", "Write", { blob: text("secret") });
    ctx.grantCapabilities(parseProcessId("other:otherapp:pub.os"), [{
      issuer: { node: OUR, process: VFS_PROCESS_ID },
      params: '{"kind": "read", "drive": "/myapp:pub.os/pkg"}',
    }]);
    assertEquals((await send(OTHER, "/myapp:pub.os/pkg/../data/f", "Read")).json, {
      Err: "NoReadCap",
    });
    const viaPkg = await send(OTHER, "/myapp:pub.os/data/../pkg/ui/index.html", "Read");
    assertEquals(decode(viaPkg.blob), "<html></html>");
    // Rename/CopyFile targets resolve alike and are checked on their resolved drive
    assertEquals(
      (await send(APP, "/myapp:pub.os/data/f", {
        CopyFile: { new_path: "/myapp:pub.os/tmp/../../otherapp:pub.os/tmp/f" },
      })).json,
      "Ok",
    );
    assertEquals(await Deno.readTextFile(`${home}/vfs/otherapp:pub.os/tmp/f`), "secret");
    assertEquals(
      (await send(APP, "/myapp:pub.os/data/f", {
        CopyFile: { new_path: "/myapp:pub.os/tmp/../../otherapp:pub.os/data/f" },
      })).json,
      { Err: "NoWriteCap" },
    );
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: AddZip unpacks, refuses zip-slip and link entries", async () => {
  const { home, send, cleanup } = await setup();
  try {
    const d = "/myapp:pub.os/data";
    await send(APP, d, "CreateDrive");
    const zip = zipSync({
      "ui/": {},
      "ui/index.html": text("<html></html>"),
      "api/v1.wit": text("interface x {}"),
    });
    assertEquals((await send(APP, `${d}/unz`, "AddZip", { blob: zip })).json, "Ok");
    const root = `${home}/vfs/myapp:pub.os/data/unz`;
    assertEquals(await Deno.readTextFile(`${root}/ui/index.html`), "<html></html>");
    assertEquals(await Deno.readTextFile(`${root}/api/v1.wit`), "interface x {}");

    const slip = zipSync({ "ok.txt": text("ok"), "../../evil.txt": text("evil") });
    const r = await send(APP, `${d}/slip`, "AddZip", { blob: slip });
    assert("ParseError" in (r.json as { Err: object }).Err, decode(r.body));
    // nothing from that archive was written, not even the harmless entry
    await Deno.stat(`${home}/vfs/myapp:pub.os/data/slip`).then(
      () => assert(false, "slip dir created"),
      () => {},
    );
    await Deno.stat(`${home}/vfs/myapp:pub.os/evil.txt`).then(
      () => assert(false, "escaped"),
      () => {},
    );

    const link = zipSync({
      "l": [text("/etc/passwd"), { os: 3, attrs: (0o120777 << 16) >>> 0 }],
    });
    assertEquals((await send(APP, `${d}/lnk`, "AddZip", { blob: link })).json, {
      Err: "UnzipError",
    });
    assertEquals((await send(APP, `${d}/bad`, "AddZip", { blob: text("not a zip") })).json, {
      Err: {
        ParseError: {
          error: "invalid Zip archive: could not find central directory end",
          path: `${d}/bad`,
        },
      },
    });
    assertEquals((await send(APP, `${d}/nob`, "AddZip")).json, { Err: "NoBlob" });
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: bad input gets an error and the module keeps serving", async () => {
  const { ctx, vfs, send, cleanup } = await setup();
  try {
    for (
      const body of [
        "not json",
        '{"path": "/myapp:pub.os/data"}',
        '{"path": 5, "action": "Read"}',
        '{"path": "/myapp:pub.os/data", "action": "Frobnicate"}',
        '{"path": "/myapp:pub.os/data", "action": {"SetLen": -1}}',
        new Uint8Array([0xff, 0xfe]),
      ]
    ) {
      const r = await call(ctx, vfs, requestKm(APP, VFS, body));
      assertEquals(r?.json, { Err: "MalformedRequest" });
    }
    for (const action of ["Write", "WriteAll", "Append"]) {
      assertEquals((await send(APP, "/myapp:pub.os/tmp/x", action)).json, { Err: "NoBlob" });
    }
    assertEquals((await send(APP, "/myapp:pub.os/tmp/x", "Write", { blob: text("y") })).json, "Ok");
  } finally {
    await cleanup();
  }
});

Deno.test("vfs: cursors survive handle eviction", async () => {
  const { send, cleanup } = await setup({ maxOpenFiles: 2 });
  try {
    const d = "/myapp:pub.os/tmp";
    for (const n of ["a", "b", "c"]) {
      await send(APP, `${d}/${n}`, "Write", { blob: text(`${n}0123456789`) });
      await send(APP, `${d}/${n}`, { Seek: { Start: 5 } });
    }
    // "a" was evicted when "c" opened; its cursor must still be at 5
    for (const n of ["a", "b", "c"]) {
      assertEquals(decode((await send(APP, `${d}/${n}`, "ReadToEnd")).blob), "456789");
    }
  } finally {
    await cleanup();
  }
});

Deno.test("vfs layout: one spelling of <home>/vfs/<package_id>/<drive>; `..` resolved, never above the root", () => {
  const root = vfsRoot("/h");
  assertEquals(root, "/h/vfs");
  assertEquals(
    driveDir(root, { packageName: "app", publisherNode: "pub.os" }, "tmp"),
    "/h/vfs/app:pub.os/tmp",
  );
  assertEquals(vfsSegments("/a:b/pkg/../pkg/./ui//x"), ["a:b", "pkg", "ui", "x"]);
  assertEquals(vfsSegments("a:b/pkg/.."), ["a:b"]);
  assertEquals(vfsSegments("/"), []);
  assertEquals(vfsHostPath(root, "/a:b/pkg/x/../y"), "/h/vfs/a:b/pkg/y");
  const refused = (f: () => unknown, kind: string) => {
    try {
      f();
    } catch (e) {
      assert(e instanceof VfsPathError && e.kind === kind, `${e}`);
      return;
    }
    assert(false, "not refused");
  };
  refused(() => vfsSegments("/.."), "escape");
  refused(() => vfsSegments("/a:b/../../vfs/a:b"), "escape");
  refused(() => vfsHostPath(root, "/a:b/pkg/../../../etc"), "escape");
  refused(() => vfsSegments("/a:b/pkg/x%2F..%2Fy"), "segment");
  refused(() => vfsSegments("/a:b/pkg/x\\y"), "segment");
  refused(() => plainSegments("ui/../x"), "escape");
  assertEquals(plainSegments("./ui/x/"), ["ui", "x"]);
});

Deno.test("vfs: processes run concurrently, each in order; a shared file keeps one cursor", async () => {
  const { ctx, vfs, cleanup } = await setup({ maxOpenFiles: 1 });
  try {
    const errors: unknown[] = [];
    const box = new Mailbox(vfs, (e) => errors.push(e));
    const f = "/myapp:pub.os/tmp/shared";
    const other = parseProcessId("other:otherapp:pub.os");
    ctx.grantCapabilities(other, [{
      issuer: { node: OUR, process: VFS_PROCESS_ID },
      params: '{"kind": "write", "drive": "/myapp:pub.os/tmp"}',
    }]);
    const req = (from: string, path: string, action: unknown, blob?: string) => {
      const km = requestKm(from, VFS, { path, action }, blob ? { blob: text(blob) } : {});
      box.enqueue(km);
      return km.id;
    };
    req(APP, f, "CreateFile");
    await box.idle(); // lanes are concurrent: the file exists before the other lane uses it
    // two processes append to one file and open others (evicting at a limit of one
    // handle) while their appends are in flight: every append lands, none is lost to a
    // handle closed under it
    const ids: bigint[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push(req(APP, f, "Append", `a${i};`));
      ids.push(req(OTHER, f, "Append", `o${i};`));
      req(APP, `/myapp:pub.os/tmp/x${i}`, "CreateFile");
    }
    await box.idle();
    assertEquals(errors, []);
    const answers = new Map(ctx.sent.map((m) => [m.id, m]));
    for (const id of ids) {
      const m = answers.get(id)!;
      assert(m.message.tag === "response");
      assertEquals(decode(m.message.val[0].body), '"Ok"');
    }
    const content = await Deno.readTextFile(`${ctx.home}/vfs/myapp:pub.os/tmp/shared`);
    const parts = content.split(";").filter((p) => p);
    assertEquals(parts.length, 40);
    // each process's own appends in the order it sent them
    for (const who of ["a", "o"]) {
      assertEquals(
        parts.filter((p) => p.startsWith(who)),
        Array.from({ length: 20 }, (_, i) => `${who}${i}`),
      );
    }
  } finally {
    await cleanup();
  }
});
