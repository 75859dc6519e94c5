// What another node may ask of the app store (downloads:app-store:sys and main hold the
// networking capability): MirrorCheck; RemoteDownload of a package alice mirrors and has,
// pushed only to an address on the asking node; Chunk/Size only for a download alice
// started from that node. Everything else from another node is dropped unanswered (main's
// whole API, downloads' local requests), and changes nothing.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootNode } from "../../main.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { bigPackageZip, bootStoreNode } from "./helpers.ts";
import { kitRpc, newPackageMessage, sha256Hex } from "./kit.ts";

const dec = new TextDecoder();

Deno.test({
  name: "app store from other nodes: only MirrorCheck, RemoteDownload to themselves, their chunks",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const alice = await bootStoreNode(`${root}/alice`, { name: "alice.os" });
      const mallory = await bootNode({
        home: `${root}/mallory`,
        name: "mallory.os",
        tcpPort: 0,
        wsPort: false,
        httpPort: false,
        pki: [alice.node.identity],
        onPrint: () => {},
      });
      try {
        await alice.node.send(
          "our@net:distro:sys",
          encodeNetAction({ tag: "HnsUpdate", update: mallory.identity }),
        );
        const zip = bigPackageZip(300_000, 2);
        const hash = await sha256Hex(zip);
        await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip));
        const pkg = { package_name: "big", publisher_node: "alice.os" };
        const ask = async (process: string, body: unknown) => {
          const r = await mallory.request(`alice.os@${process}`, JSON.stringify(body), {
            timeoutSeconds: 3,
          });
          return JSON.parse(dec.decode(r.body));
        };
        const DOWNLOADS = "downloads:app-store:sys";

        assertEquals(await ask(DOWNLOADS, { MirrorCheck: pkg }), "Success");
        assertEquals(
          await ask(DOWNLOADS, { MirrorCheck: { package_name: "x", publisher_node: "y.os" } }),
          { Err: "NotMirroring" },
        );
        // a push to a third node is refused
        const third = await ask(DOWNLOADS, {
          RemoteDownload: {
            package_id: pkg,
            desired_version_hash: hash,
            worker_address: "bob.os@downloads:app-store:sys",
          },
        });
        assert(isErr(third), JSON.stringify(third));
        assertEquals(
          await ask(DOWNLOADS, {
            RemoteDownload: {
              package_id: pkg,
              desired_version_hash: "cd".repeat(32),
              worker_address: "mallory.os@downloads:app-store:sys",
            },
          }),
          { Err: "FileNotFound" },
        );

        // local-only requests from another node: dropped, nothing changes
        const dropped = [
          [DOWNLOADS, { StopMirroring: pkg }],
          [DOWNLOADS, { RemoveFile: { package_id: pkg, version_hash: hash } }],
          [DOWNLOADS, { GetFiles: null }],
          [DOWNLOADS, {
            LocalDownload: {
              package_id: pkg,
              download_from: "mallory.os",
              desired_version_hash: hash,
            },
          }],
          ["main:app-store:sys", {
            Uninstall: { package_name: "homepage", publisher_node: "sys" },
          }],
          ["main:app-store:sys", "Apis"],
          ["chain:app-store:sys", "GetApps"],
        ] as const;
        for (const [process, body] of dropped) {
          await assertRejects(() => ask(process, body));
        }
        const files = (await alice.api("GET", "/downloads/big:alice.os")).json as unknown[];
        assertEquals(files.length, 1);
        assertEquals(
          (await alice.api("GET", "/downloads")).json,
          [{ Dir: { name: "big:alice.os", mirroring: true } }],
        );
        // chunks nobody asked for are ignored
        await mallory.send(
          "alice.os@downloads:app-store:sys",
          JSON.stringify({ Chunk: { package_id: pkg, version_hash: hash, offset: 0, length: 3 } }),
          { blob: new Uint8Array([1, 2, 3]) },
        );
        assertEquals(
          ((await alice.api("GET", "/downloads/big:alice.os")).json as unknown[]).length,
          1,
        );
        assert(alice.node.isRunning("downloads:app-store:sys"));
        assert(alice.node.isRunning("main:app-store:sys"));
      } finally {
        await mallory.shutdown();
        await alice.stop();
      }
    });
  },
});

function isErr(v: unknown): boolean {
  return !!v && typeof v === "object" && "Err" in v;
}
