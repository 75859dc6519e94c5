// App listings on Hypermap (the local chain, chain/): alice publishes `echo` as kit publish
// does (~metadata-hash and ~metadata-uri under echo.alice.os); bob's chain:app-store:sys
// indexes it (GetApps / GetApp / the HTTP API), bob downloads it from alice (the publisher is
// the first mirror) and installs it; when alice publishes a new version with the same
// capabilities, bob's app store downloads and installs it by itself (auto-update). A listing
// whose metadata does not hash to its ~metadata-hash is listed without metadata.

import { keccak256, toHex } from "viem";
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { startChain } from "../../chain/mod.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { bootStoreNode, type StoreNode, until } from "./helpers.ts";
import { kitRpc, makeZip, newPackageMessage, sha256Hex } from "./kit.ts";
import { publishApp, serveFiles } from "./publish.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function echoZip(version: string): Uint8Array {
  const proc = `import { receive, sendResponse } from "hyperware:process/standard@1.0.0";
export function init() {
  for (;;) {
    const [, m] = receive();
    if (m.tag === "request" && m.val.expectsResponse !== undefined) {
      sendResponse({ inherit: false, body: new TextEncoder().encode("echo ${version}"), metadata: undefined, capabilities: [] }, undefined);
    }
  }
}
`;
  const manifest = [{
    process_name: "echo",
    process_wasm_path: "/echo.js",
    on_exit: "Restart",
    request_networking: false,
    request_capabilities: ["vfs:distro:sys"],
    grant_capabilities: [],
    public: true,
  }];
  return makeZip([
    { name: "echo.js", data: enc.encode(proc) },
    { name: "manifest.json", data: enc.encode(JSON.stringify(manifest)) },
  ]);
}

function metadata(version: string, hashes: Record<string, string>): Uint8Array {
  return enc.encode(JSON.stringify({
    name: "Echo",
    description: "Answers every request with its version.",
    image: "",
    properties: {
      package_name: "echo",
      current_version: version,
      publisher: "alice.os",
      mirrors: [],
      code_hashes: hashes,
      wit_version: 1,
      dependencies: [],
    },
    external_url: "",
    animation_url: "",
  }));
}

function teach(n: StoreNode, other: StoreNode) {
  return n.node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: other.node.identity }),
  );
}

Deno.test({
  name: "listings on Hypermap: indexed, downloaded from the publisher, auto-updated",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const chain = await startChain({ port: 0 });
      const files = new Map<string, Uint8Array>();
      const web = serveFiles(files);
      const nodes: StoreNode[] = [];
      try {
        const v1 = echoZip("0.1.0");
        const h1 = await sha256Hex(v1);
        const m1 = metadata("0.1.0", { "0.1.0": h1 });
        files.set("/echo/metadata.json", m1);
        await publishApp(chain.url, "alice.os", "echo", `${web.url}/echo/metadata.json`, m1);
        // a listing whose metadata does not hash to its note
        files.set("/bad/metadata.json", enc.encode("{}"));
        await publishApp(
          chain.url,
          "alice.os",
          "bad",
          `${web.url}/bad/metadata.json`,
          enc.encode("other"),
        );

        const alice = await bootStoreNode(`${root}/alice`, {
          name: "alice.os",
          chainPort: chain.port,
        });
        nodes.push(alice);
        const bob = await bootStoreNode(`${root}/bob`, {
          name: "bob.os",
          chainPort: chain.port,
          pki: [alice.node.identity],
        });
        nodes.push(bob);
        await teach(alice, bob);
        assertEquals(
          (await kitRpc(alice.base, newPackageMessage("echo", "alice.os", v1))).json,
          { NewPackageResponse: "Success" },
        );

        // bob's app store lists it, with the metadata it fetched and checked
        type App = {
          package_id: { package_name: string; publisher_node: string };
          metadata_hash: string;
          metadata: {
            name: string;
            properties: { current_version: string; code_hashes: [string, string][] };
          } | null;
          auto_update: boolean;
          tba: string;
        };
        const apps = await until(
          async () => {
            const r = await bob.api("GET", "/apps");
            const list = r.json as App[];
            return list.length === 2 && list.every((a) => a.package_id) ? list : undefined;
          },
          "bob listing both apps",
          60_000,
        );
        const echo = apps.find((a) => a.package_id.package_name === "echo")!;
        assertEquals(echo.metadata?.name, "Echo");
        assertEquals(echo.metadata?.properties.code_hashes, [["0.1.0", h1]]);
        assertEquals(echo.metadata_hash, keccak256(m1));
        assert(/^0x[0-9a-f]{40}$/i.test(echo.tba), echo.tba);
        assertEquals(apps.find((a) => a.package_id.package_name === "bad")!.metadata, null);
        // chain's own API, as kit view-api asks it
        const got = await bob.ask("our@chain:app-store:sys", {
          GetApp: { package_name: "echo", publisher_node: "alice.os" },
        }) as { GetApp: App };
        assertEquals(got.GetApp.metadata_hash, keccak256(m1));
        assertEquals(
          await bob.ask("our@chain:app-store:sys", {
            GetApp: { package_name: "nothing", publisher_node: "alice.os" },
          }),
          { GetApp: null },
        );
        // alice published it: her "our apps"
        const ours = await until(
          async () => {
            const list = (await alice.api("GET", "/ourapps")).json as App[];
            return list.length === 2 ? list : undefined;
          },
          "alice's published apps",
          30_000,
        );
        assertEquals(ours.map((a) => a.package_id.package_name).sort(), ["bad", "echo"]);

        // bob downloads v1 from alice and installs it: auto-update is on from then
        const dl = await bob.api("POST", "/apps/echo:alice.os/download", {
          download_from: "alice.os",
          version_hash: h1,
        });
        assertEquals(dl.status, 200);
        await until(
          async () =>
            JSON.stringify((await bob.api("GET", "/downloads/echo:alice.os")).json).includes(h1),
          "v1 downloaded",
          60_000,
        );
        assertEquals(
          (await bob.api("POST", "/apps/echo:alice.os/install", { version_hash: h1 })).status,
          201,
        );
        await until(() => bob.node.isRunning("echo:echo:alice.os"), "echo running");
        assertEquals(
          dec.decode((await bob.node.request("our@echo:echo:alice.os", "hi")).body),
          "echo 0.1.0",
        );
        await until(async () => {
          const a = (await bob.api("GET", "/apps/echo:alice.os")).json as App;
          return a.auto_update;
        }, "auto-update on");

        // alice publishes 0.2.0 (same manifest): bob downloads and installs it by himself
        const v2 = echoZip("0.2.0");
        const h2 = await sha256Hex(v2);
        assertEquals(
          (await kitRpc(alice.base, newPackageMessage("echo", "alice.os", v2))).json,
          { NewPackageResponse: "Success" },
        );
        const m2 = metadata("0.2.0", { "0.1.0": h1, "0.2.0": h2 });
        files.set("/echo/metadata2.json", m2);
        await publishApp(chain.url, "alice.os", "echo", `${web.url}/echo/metadata2.json`, m2);
        await bob.waitForPrint(/auto-installed update for package: echo:alice\.os/, 60_000);
        assertEquals(
          dec.decode((await bob.node.request("our@echo:echo:alice.os", "hi")).body),
          "echo 0.2.0",
        );
        const installed = (await bob.api("GET", "/installed/echo:alice.os")).json as {
          our_version_hash: string;
        };
        assertEquals(installed.our_version_hash, h2);
        assertEquals(toHex(enc.encode("x")), "0x78");
      } finally {
        for (const n of nodes.reverse()) await n.stop();
        await web.stop();
        await chain.stop();
      }
    });
  },
});
