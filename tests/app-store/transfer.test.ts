// Packages between two nodes: alice mirrors a 20 MB package (kit start-package's
// NewPackage, mirror: true); bob downloads it through the app store's HTTP API (LocalDownload
// to alice: RemoteDownload, Size, 256 KiB Chunks, sha256 at the end), is stopped mid-transfer
// and booted again, and the download goes on from the bytes it had; then bob installs it.
// Also: MirrorCheck, a node that is not mirroring, a version alice does not have, a mirror
// that goes offline for good (the download fails with Offline, nothing left behind).

import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import { bigPackageZip, bootStoreNode, type StoreNode, until } from "./helpers.ts";
import { kitRpc, newPackageMessage, sha256Hex } from "./kit.ts";

const PKG = "big:alice.os";

function teach(n: StoreNode, update: HnsUpdate) {
  return n.node.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update }));
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return -1;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test({
  name: "a 20 MB package from another node, the receiver restarted mid-transfer, then installed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const zip = bigPackageZip(20 * 1024 * 1024);
      const hash = await sha256Hex(zip);
      const bobTcp = await freePort();
      const alice = await bootStoreNode(`${root}/alice`, { name: "alice.os" });
      let bob = await bootStoreNode(`${root}/bob`, {
        name: "bob.os",
        tcpPort: bobTcp,
        pki: [alice.node.identity],
      });
      try {
        await teach(alice, bob.node.identity);
        const added = await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip));
        assertEquals(added.json, { NewPackageResponse: "Success" });

        // bob asks alice: is she mirroring it? (and a package she does not mirror)
        const check = await bob.api("GET", `/mirrorcheck/${PKG}/alice.os`);
        assertEquals(check.json, { node: "alice.os", is_online: true, error: null });
        const notMirrored = await bob.api("GET", `/mirrorcheck/other:alice.os/alice.os`);
        assertEquals((notMirrored.json as { is_online: boolean }).is_online, true);
        assert((notMirrored.json as { error: string }).error.includes("not mirroring"));
        const nobody = await bob.api("GET", `/mirrorcheck/${PKG}/nobody.os`);
        assertEquals((nobody.json as { is_online: boolean }).is_online, false);

        // download; stop bob once some of it has arrived (loopback is fast: when the
        // transfer finished before bob stopped, boot him again and start over)
        const part = `${root}/bob/vfs/app-store:sys/downloads/${PKG}/${hash}.zip.part`;
        const whole = `${root}/bob/vfs/app-store:sys/downloads/${PKG}/${hash}.zip`;
        let kept = -1;
        for (let attempt = 1; kept < 0; attempt++) {
          const started = await bob.api("POST", `/apps/${PKG}/download`, {
            download_from: "alice.os",
            version_hash: hash,
          });
          assertEquals([started.status, started.json], [200, "Success"]);
          await until(
            async () => {
              const s = await fileSize(part);
              return (s > 0 && s < zip.length) || (await fileSize(whole)) > 0;
            },
            "bob receiving chunks",
            60_000,
          );
          await bob.stop();
          // a part already whole (every chunk in, not yet checked and renamed) counts as finished
          const partSize = await fileSize(part);
          if ((await fileSize(whole)) < 0 && partSize > 0 && partSize < zip.length) {
            kept = partSize;
            break;
          }
          if (attempt === 5) throw new Error("every transfer finished before bob stopped");
          bob = await bootStoreNode(`${root}/bob`, {
            name: "bob.os",
            tcpPort: bobTcp,
            pki: [alice.node.identity],
          });
          await bob.api("POST", `/downloads/${PKG}/remove`, { version_hash: hash });
        }
        assert(kept > 0 && kept < zip.length, `partial file kept (${kept} bytes)`);

        // booted again: the download goes on from what bob had
        bob = await bootStoreNode(`${root}/bob`, {
          name: "bob.os",
          tcpPort: bobTcp,
          pki: [alice.node.identity],
        });
        await bob.waitForPrint(
          new RegExp(`resuming the download of ${PKG} from alice\\.os at \\d+ bytes`),
        );
        const files = await until(
          async () => {
            const r = await bob.api("GET", `/downloads/${PKG}`);
            const list = r.json as { File?: { name: string; size: number } }[];
            return list.find((e) => e.File?.name === `${hash}.zip`) ? list : undefined;
          },
          "the download completing",
          120_000,
        );
        const file = files.find((e) => e.File)!.File!;
        assertEquals(file.size, zip.length);
        assertEquals(
          await sha256Hex(
            await Deno.readFile(`${root}/bob/vfs/app-store:sys/downloads/${PKG}/${hash}.zip`),
          ),
          hash,
        );
        assertEquals(await fileSize(part), -1);
        const resumedAt = Number(
          /at (\d+) bytes/.exec(bob.prints.find((p) => p.includes("resuming the download"))!)![1],
        );
        assert(resumedAt > 0, "resumed from the bytes it had, not from zero");

        // its manifest is known before install (the approval step reads it)
        const m = await bob.api("GET", `/manifest?id=${PKG}&version_hash=${hash}`);
        assertEquals(m.status, 200);
        assert((m.json as { manifest: string }).manifest.includes('"process_name":"big"'));

        // install it from the download
        const inst = await bob.api("POST", `/apps/${PKG}/install`, { version_hash: hash });
        assertEquals(inst.status, 201, inst.text);
        await until(() => bob.node.isRunning("big:big:alice.os"), "big running on bob");
        const res = await bob.node.request("our@big:big:alice.os", "hi");
        assertEquals(new TextDecoder().decode(res.body), "big ok");
      } finally {
        await bob.stop();
        await alice.stop();
      }
    });
  },
});

Deno.test({
  name: "downloads that cannot succeed fail with a clear error and leave nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const zip = bigPackageZip(3 * 1024 * 1024, 7);
      const hash = await sha256Hex(zip);
      const alice = await bootStoreNode(`${root}/alice`, { name: "alice.os" });
      const bob = await bootStoreNode(`${root}/bob`, {
        name: "bob.os",
        pki: [alice.node.identity],
      });
      try {
        await teach(alice, bob.node.identity);
        assertEquals(
          (await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip))).json,
          { NewPackageResponse: "Success" },
        );
        const download = (h: string) =>
          bob.ask("our@downloads:app-store:sys", {
            LocalDownload: {
              package_id: { package_name: "big", publisher_node: "alice.os" },
              download_from: "alice.os",
              desired_version_hash: h,
            },
          });
        // a version alice does not have
        const missing = "ab".repeat(32);
        assertEquals(await download(missing), "Success");
        await bob.waitForPrint(/download of big:alice\.os abababab failed: "FileNotFound"/);
        // alice stops mirroring: NotMirroring
        assertEquals(
          (await alice.api("DELETE", `/downloads/${PKG}/mirror`)).status,
          200,
        );
        assertEquals(await download(hash), "Success");
        await bob.waitForPrint(
          new RegExp(`download of big:alice\\.os ${hash.slice(0, 8)} failed: "NotMirroring"`),
        );
        const dir = `${root}/bob/vfs/app-store:sys/downloads/${PKG}`;
        const left = [];
        try {
          for await (const e of Deno.readDir(dir)) left.push(e.name);
        } catch { /* no dir */ }
        assertEquals(left, []);
        // malformed requests are refused, and downloads keeps serving
        const bad = await bob.api("POST", `/apps/${PKG}/download`, {
          download_from: "alice.os",
          version_hash: "not a hash",
        });
        assertEquals(bad.status, 400);
        assertEquals(
          ((await bob.api("GET", "/downloads")).json as unknown[]).length >= 0,
          true,
        );
      } finally {
        await bob.stop();
        await alice.stop();
      }
    });
  },
});

Deno.test({
  name: "the mirror restarted mid-transfer, a mirror gone for good, a mirror sending wrong bytes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const zip = bigPackageZip(40 * 1024 * 1024, 3);
      const hash = await sha256Hex(zip);
      const aliceTcp = await freePort();
      // bob gives up on a silent mirror after 8 s here (120 s by default): long enough for alice
      // to boot again after bob has noticed her silence
      await Deno.mkdir(`${root}/bob/vfs/app-store:sys/initfiles`, { recursive: true });
      await Deno.writeTextFile(
        `${root}/bob/vfs/app-store:sys/initfiles/downloads.json`,
        JSON.stringify({ stall_ms: 700, give_up_ms: 8000 }),
      );
      let alice = await bootStoreNode(`${root}/alice`, { name: "alice.os", tcpPort: aliceTcp });
      const bob = await bootStoreNode(`${root}/bob`, {
        name: "bob.os",
        pki: [alice.node.identity],
      });
      try {
        await teach(alice, bob.node.identity);
        assertEquals(
          (await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip))).json,
          { NewPackageResponse: "Success" },
        );
        const dir = `${root}/bob/vfs/app-store:sys/downloads/${PKG}`;
        const part = `${dir}/${hash}.zip.part`;
        const download = () =>
          bob.api("POST", `/apps/${PKG}/download`, {
            download_from: "alice.os",
            version_hash: hash,
          });

        const completed = async () => (await fileSize(`${dir}/${hash}.zip`)) === zip.length;
        const removeDownload = async () =>
          assertEquals(
            (await bob.api("POST", `/downloads/${PKG}/remove`, { version_hash: hash })).status,
            200,
          );
        /** What comes first after bob's print number `mark`: a print matching `re`, or completion. */
        const printedOrCompleted = (mark: number, re: RegExp, what: string) =>
          until(
            async () =>
              bob.prints.slice(mark).some((p) => re.test(p))
                ? "printed"
                : (await completed())
                ? "completed"
                : undefined,
            what,
            60_000,
          );
        // loopback is fast: a transfer may finish before the mirror is stopped; then again
        const midTransfer = async (stop: () => Promise<void>) => {
          for (let attempt = 1;; attempt++) {
            assertEquals((await download()).status, 200);
            await until(
              async () => {
                const s = await fileSize(part);
                return (s > 0 && s < zip.length) || await completed();
              },
              "bob receiving chunks",
              60_000,
            );
            await stop();
            // chunks already on their way may still land: the transfer is cut off only once bob
            // notices the silence (a slow machine can hold the whole tail in flight)
            const stall = /no chunk for 700 ms; asking again from/;
            const first = await printedOrCompleted(bob.prints.length, stall, "bob to stall");
            if (first === "printed") return;
            if (attempt === 5) throw new Error("every transfer finished before the mirror stopped");
            alice = await bootStoreNode(`${root}/alice`, { name: "alice.os", tcpPort: aliceTcp });
            await teach(alice, bob.node.identity);
            await removeDownload();
          }
        };

        // alice stops mid-transfer and comes back: bob asks again from what he has
        await midTransfer(() => alice.stop());
        alice = await bootStoreNode(`${root}/alice`, { name: "alice.os", tcpPort: aliceTcp });
        await teach(alice, bob.node.identity);
        await until(completed, "completed", 60_000);
        assert(bob.prints.some((p) => /no chunk for 700 ms; asking again from [1-9]/.test(p)));

        // a mirror whose copy is corrupt: the bytes do not hash to the version: HashMismatch
        await removeDownload();
        const stored = `${root}/alice/vfs/app-store:sys/downloads/${PKG}/${hash}.zip`;
        const bytes = await Deno.readFile(stored);
        bytes[bytes.length >> 1] ^= 0xff;
        await Deno.writeFile(stored, bytes);
        assertEquals((await download()).status, 200);
        await bob.waitForPrint(
          new RegExp(`download of big:alice\\.os ${hash.slice(0, 8)} failed: \\{"HashMismatch"`),
          60_000,
        );
        assertEquals(await fileSize(part), -1);
        assertEquals(await fileSize(`${dir}/${hash}.zip`), -1);

        // alice goes away for good mid-transfer: Offline after give_up_ms, nothing left
        bytes[bytes.length >> 1] ^= 0xff;
        await Deno.writeFile(stored, bytes);
        // (a transfer whose last chunks were already in when alice stopped completes instead:
        // then again, with alice back)
        const gone = new RegExp(
          `download of big:alice\\.os ${hash.slice(0, 8)} failed: "(Offline|Timeout)"`,
        );
        for (let attempt = 1;; attempt++) {
          const mark = bob.prints.length;
          await midTransfer(() => alice.stop());
          const first = await printedOrCompleted(mark, gone, "the download to fail");
          if (first === "printed") break;
          if (attempt === 5) throw new Error("every transfer finished before the mirror stopped");
          alice = await bootStoreNode(`${root}/alice`, { name: "alice.os", tcpPort: aliceTcp });
          await teach(alice, bob.node.identity);
          await removeDownload();
        }
        assertEquals(await fileSize(part), -1);
      } finally {
        await bob.stop();
        await alice.stop();
      }
    });
  },
});
