// The app store's HTTP API (Hyperdrive's http_api routes, on its subdomain) and atomic
// upgrades through the app store: a new version whose process cannot load, or that asks
// for a capability the user did not approve, is refused with the reason while the old
// version keeps running with its state and drive; DELETE /apps/:id answers 204 without a
// body; bad requests get 4xx with {"error"}; the store keeps serving.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootStoreNode, until } from "./helpers.ts";
import { installMessage, kitRpc, makeZip, newPackageMessage, sha256Hex } from "./kit.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PID = "up:up:dev.os";

function pkgZip(proc: string, caps: unknown[] = ["vfs:distro:sys"], marker = "v1"): Uint8Array {
  const manifest = [{
    process_name: "up",
    process_wasm_path: "/up.js",
    on_exit: "Restart",
    request_networking: false,
    request_capabilities: caps,
    grant_capabilities: [],
    public: true,
  }];
  return makeZip([
    { name: "manifest.json", data: enc.encode(JSON.stringify(manifest)) },
    { name: "marker.txt", data: enc.encode(marker) },
    { name: "up.js", data: enc.encode(proc) },
  ]);
}

const GOOD = (version: string) =>
  `import { getState, receive, sendResponse, setState } from "hyperware:process/standard@1.0.0";
export function init() {
  for (;;) {
    const [, m] = receive();
    if (m.tag !== "request") continue;
    const text = new TextDecoder().decode(m.val.body);
    if (text.startsWith("set ")) setState(new TextEncoder().encode(text.slice(4)));
    const s = getState();
    const body = "${version} " + (s ? new TextDecoder().decode(s) : "-");
    if (m.val.expectsResponse !== undefined) {
      sendResponse({ inherit: false, body: new TextEncoder().encode(body), metadata: undefined, capabilities: [] }, undefined);
    }
  }
}
`;

function meta(hash: string) {
  return {
    name: "up",
    description: null,
    image: null,
    external_url: null,
    animation_url: null,
    properties: {
      package_name: "up",
      current_version: "1.0.0",
      publisher: "dev.os",
      mirrors: [],
      code_hashes: { "1.0.0": hash },
      wit_version: 1,
      dependencies: [],
    },
  };
}

Deno.test({
  name: "app store HTTP API and atomic upgrades: refused versions leave the old one running",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const n = await bootStoreNode(`${root}/home`);
      try {
        const ask = async (text: string) =>
          dec.decode((await n.node.request(`our@${PID}`, text)).body);
        const start = async (zip: Uint8Array) => {
          const hash = await sha256Hex(zip);
          assertEquals(
            (await kitRpc(n.base, newPackageMessage("up", "dev.os", zip))).json,
            { NewPackageResponse: "Success" },
          );
          return {
            hash,
            answer: (await kitRpc(n.base, installMessage(hash, meta(hash)))).json,
          };
        };
        const v1 = await start(pkgZip(GOOD("v1")));
        assertEquals(v1.answer, { InstallResponse: "Success" });
        await until(() => n.node.isRunning(PID), "v1 running");
        assertEquals(await ask("set kept"), "v1 kept");
        const marker = `${n.home}/vfs/up:dev.os/pkg/marker.txt`;

        // v2 whose module has no init: Failure; v1 runs on with its state and drive
        const noInit = await start(pkgZip("export const nothing = 1;", undefined, "v2"));
        assertEquals(noInit.answer, { InstallResponse: "Failure" });
        await n.waitForPrint(
          /error installing package up:dev\.os: up:up:dev\.os cannot run: process module does not export init\(\)/,
        );
        assertEquals(await ask("hi"), "v1 kept");
        assertEquals(await Deno.readTextFile(marker), "v1");
        // v2 that throws while loading
        const broken = await start(pkgZip("throw new Error('boom at load');", undefined, "v2"));
        assertEquals(broken.answer, { InstallResponse: "Failure" });
        await n.waitForPrint(/cannot run: .*boom at load/);
        assertEquals(await ask("hi"), "v1 kept");

        // v2 asking for a capability the user does not approve (HTTP, as the UI sends it)
        const greedy = pkgZip(GOOD("v2"), ["vfs:distro:sys", "http-server:distro:sys"], "v2");
        const gh = await sha256Hex(greedy);
        assertEquals(
          (await kitRpc(n.base, newPackageMessage("up", "dev.os", greedy))).json,
          { NewPackageResponse: "Success" },
        );
        const refused = await n.api("POST", "/apps/up:dev.os/install", {
          version_hash: gh,
          approved_capabilities: ["vfs:distro:sys"],
        });
        assertEquals(refused.status, 503);
        assertMatch(
          (refused.json as { error: string }).error,
          /up:up:dev\.os: capability http-server:distro:sys was not approved/,
        );
        assertEquals(await ask("hi"), "v1 kept");
        assertEquals(await Deno.readTextFile(marker), "v1");
        // approved: v2 replaces v1, keeping its state
        const ok = await n.api("POST", "/apps/up:dev.os/install", {
          version_hash: gh,
          approved_capabilities: ["vfs:distro:sys", "http-server:distro:sys"],
        });
        assertEquals(ok.status, 201, ok.text);
        assertEquals(await ask("hi"), "v2 kept");
        assertEquals(await Deno.readTextFile(marker), "v2");
        const info = (await n.api("GET", "/installed/up:dev.os")).json as Record<string, unknown>;
        assertEquals(info, {
          package_id: { package_name: "up", publisher_node: "dev.os" },
          our_version_hash: gh,
          publisher: "dev.os",
          verified: true,
          caps_approved: true,
        });

        // a stored zip that no longer hashes to its version is refused at install
        const stored = `${n.home}/vfs/app-store:sys/downloads/up:dev.os/${v1.hash}.zip`;
        const original = await Deno.readFile(stored);
        const tampered = original.slice();
        tampered[tampered.length - 30] ^= 0xff;
        await Deno.writeFile(stored, tampered);
        const bad = await n.api("POST", "/apps/up:dev.os/install", { version_hash: v1.hash });
        assertEquals(bad.status, 503);
        assertMatch((bad.json as { error: string }).error, /does not hash to/);
        assertEquals(await ask("hi"), "v2 kept");
        await Deno.writeFile(stored, original);

        // the API's answers
        const files = (await n.api("GET", "/downloads/up:dev.os")).json as {
          File: { name: string };
        }[];
        assertEquals(files.length, 4);
        const dirs = (await n.api("GET", "/downloads")).json as {
          Dir: { name: string; mirroring: boolean };
        }[];
        assertEquals(dirs, [{ Dir: { name: "up:dev.os", mirroring: true } }]);
        assertEquals((await n.api("DELETE", "/downloads/up:dev.os/mirror")).status, 200);
        assertEquals(
          (await n.api("GET", "/downloads")).json,
          [{ Dir: { name: "up:dev.os", mirroring: false } }],
        );
        const m = await n.api("GET", `/manifest?id=up:dev.os&version_hash=${gh}`);
        assert((m.json as { manifest: string }).manifest.includes("http-server:distro:sys"));
        assertEquals(
          (await n.api("GET", `/manifest?id=up:dev.os&version_hash=${"0".repeat(64)}`)).status,
          404,
        );
        assertEquals((await n.api("GET", "/apps")).json, []);
        assertEquals((await n.api("GET", "/apps/up:dev.os")).json, null);
        assertEquals((await n.api("PUT", "/apps/up:dev.os/auto-update")).json, {
          Err: "NoPackage",
        });
        assertEquals((await n.api("GET", "/updates")).json, {});
        assertEquals((await n.api("GET", "/togglepublic")).json, false);
        assertEquals((await n.api("POST", "/togglepublic")).json, true);
        assertEquals((await n.api("POST", "/togglepublic")).json, false);
        const home = (await n.api("GET", "/homepageapps")).json as { GetApps: { id: string }[] };
        assert(home.GetApps.some((a) => a.id === "main:app-store:sys"));

        // bad requests
        assertEquals((await n.api("GET", "/apps/not-a-package")).status, 400);
        assertEquals((await n.api("POST", "/apps/up:dev.os/install", "{oops")).status, 400);
        assertEquals((await n.api("POST", "/apps/up:dev.os/install", {})).status, 400);
        assertEquals((await n.api("PUT", "/installed")).status, 405);
        const sys = await n.api("DELETE", "/apps/homepage:sys");
        assertEquals(sys.status, 500);
        assertMatch(
          (sys.json as { error: string }).error,
          /system package and cannot be uninstalled/,
        );

        // uninstall: 204 and no body
        const del = await n.api("DELETE", "/apps/up:dev.os");
        assertEquals([del.status, del.text], [204, ""]);
        assert(!n.node.isRunning(PID));
        assertEquals((await n.api("GET", "/installed/up:dev.os")).status, 404);
        assertEquals((await n.api("DELETE", "/apps/up:dev.os")).status, 500);
        // the downloads stay; one can be removed
        assertEquals(
          (await n.api("POST", "/downloads/up:dev.os/remove", { version_hash: gh })).status,
          200,
        );
        assertEquals(((await n.api("GET", "/downloads/up:dev.os")).json as unknown[]).length, 3);
      } finally {
        await n.stop();
      }
    });
  },
});
