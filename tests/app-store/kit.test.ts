// kit start-package, remove-package and view-api against a booted node, with kit's exact
// requests (tests/app-store/kit.ts reproduces kit's RPC and its package zip): NewPackage
// with the zip, Install with metadata.json field by field, Apis / GetApi (api.zip), and
// Uninstall; then bad input, each refused with the failure answer while the node serves.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { buildFixture } from "../fixtures/build.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootStoreNode, type StoreNode, until } from "./helpers.ts";
import {
  getApiMessage,
  installMessage,
  type KitMetadata,
  kitRpc,
  listApisMessage,
  makeMessage,
  makeZip,
  newPackageMessage,
  sha256Hex,
  sortedJson,
  uninstallMessage,
  zipDirectory,
} from "./kit.ts";

const PUBLISHER = "kit-dev.os";

function metadataFor(
  name: string,
  version = "0.1.0",
  hashes: Record<string, string> = {},
): KitMetadata {
  return {
    name: `${name} app`,
    description: "built by kit",
    image: "",
    external_url: "",
    animation_url: "",
    properties: {
      package_name: name,
      current_version: version,
      publisher: PUBLISHER,
      mirrors: [],
      code_hashes: hashes,
      wit_version: 1,
      dependencies: [],
    },
  };
}

/** A package directory as kit leaves it after `kit build`: pkg/ with the component, ui, api.zip. */
async function kitPackage(root: string, name: string, manifestExtra: Record<string, unknown> = {}) {
  const dir = `${root}/${name}`;
  await Deno.mkdir(`${dir}/pkg/ui`, { recursive: true });
  await Deno.mkdir(`${dir}/target/api`, { recursive: true });
  await Deno.writeFile(`${dir}/pkg/${name}.wasm`, await buildFixture("tester"));
  await Deno.writeTextFile(`${dir}/pkg/ui/index.html`, "<h1>hi</h1>");
  await Deno.writeTextFile(
    `${dir}/target/api/${name}:${PUBLISHER}-v0.wit`,
    `interface ${name} {\n  variant request { ping }\n}\n`,
  );
  await Deno.writeFile(`${dir}/pkg/api.zip`, await zipDirectory(`${dir}/target/api`));
  await Deno.writeTextFile(
    `${dir}/pkg/manifest.json`,
    JSON.stringify([{
      process_name: name,
      process_wasm_path: `/${name}.wasm`,
      on_exit: "Restart",
      request_networking: false,
      request_capabilities: ["vfs:distro:sys"],
      grant_capabilities: [],
      public: true,
      ...manifestExtra,
    }]),
  );
  const zip = await zipDirectory(`${dir}/pkg`);
  return { dir, zip, hash: await sha256Hex(zip) };
}

async function startPackage(n: StoreNode, name: string, zip: Uint8Array, hash: string) {
  const added = await kitRpc(n.base, newPackageMessage(name, PUBLISHER, zip));
  assertEquals(added.status, 200);
  assertEquals(added.json, { NewPackageResponse: "Success" });
  return await kitRpc(n.base, installMessage(hash, metadataFor(name, "0.1.0", { "0.1.0": hash })));
}

Deno.test({
  name: "kit start-package / view-api / remove-package, with kit's exact requests",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const n = await bootStoreNode(`${root}/home`);
      try {
        const { zip, hash } = await kitPackage(root, "kitapp");
        const pid = `kitapp:kitapp:${PUBLISHER}`;
        const installed = await startPackage(n, "kitapp", zip, hash);
        assertEquals(
          installed.json,
          { InstallResponse: "Success" },
          `${installed.status} ${installed.body}\n${
            n.prints.filter((p) => !p.startsWith("http-server")).join("\n")
          }`,
        );
        // the process runs and answers; its drive holds the zip's files
        await until(() => n.node.isRunning(pid), "kitapp running");
        assertEquals(await n.ask(`our@${pid}`, { op: "our" }), { our: `store.dev@${pid}` });
        const drive = `${n.home}/vfs/kitapp:${PUBLISHER}/pkg`;
        assertEquals(await Deno.readTextFile(`${drive}/ui/index.html`), "<h1>hi</h1>");
        // the download the app store kept: downloads/<pkg>/<hash>.zip, as kit sent it
        const kept = await Deno.readFile(
          `${n.home}/vfs/app-store:sys/downloads/kitapp:${PUBLISHER}/${hash}.zip`,
        );
        assertEquals(await sha256Hex(kept), hash);
        // installed, with its version hash
        const list = await n.api("GET", "/installed");
        const mine =
          (list.json as { package_id: { package_name: string }; our_version_hash: string }[])
            .find((p) => p.package_id.package_name === "kitapp");
        assertEquals(mine?.our_version_hash, hash);

        // kit view-api: the package is listed, its api.zip comes back
        const apis = await kitRpc(n.base, listApisMessage());
        assertEquals(apis.json, {
          ApisResponse: { apis: [{ package_name: "kitapp", publisher_node: PUBLISHER }] },
        });
        const api = await kitRpc(n.base, getApiMessage("kitapp", PUBLISHER));
        assertEquals(api.json, { GetApiResponse: "Success" });
        // as Hyperdrive sends a blob over RPC: its bytes as base64 text
        const apiZip = Uint8Array.fromBase64(new TextDecoder().decode(api.blob!));
        assertEquals(apiZip, await Deno.readFile(`${root}/kitapp/pkg/api.zip`));
        assertEquals(
          (await kitRpc(n.base, getApiMessage("nothing", PUBLISHER))).json,
          { GetApiResponse: "Failure" },
        );

        // start-package again with the same build: Success again, still running
        assertEquals((await startPackage(n, "kitapp", zip, hash)).json, {
          InstallResponse: "Success",
        });
        await until(() => n.node.isRunning(pid), "kitapp running again");

        // kit remove-package
        const removed = await kitRpc(n.base, uninstallMessage("kitapp", PUBLISHER));
        assertEquals(removed.json, { UninstallResponse: "Success" });
        assert(!n.node.isRunning(pid), "stopped");
        await until(async () => {
          try {
            await Deno.stat(drive);
            return false;
          } catch {
            return true;
          }
        }, "drive removed");
        assertEquals((await kitRpc(n.base, listApisMessage())).json, {
          ApisResponse: { apis: [] },
        });
        // removing it again fails, as there is nothing to remove
        assertEquals(
          (await kitRpc(n.base, uninstallMessage("kitapp", PUBLISHER))).json,
          { UninstallResponse: "Failure" },
        );
      } finally {
        await n.stop();
      }
    });
  },
});

Deno.test({
  name: "kit requests with bad input are refused with their failure answer; the node serves on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const n = await bootStoreNode(`${root}/home`);
      try {
        const good = await kitPackage(root, "goodapp");
        const rpc = (m: string) => kitRpc(n.base, m);
        const newPkg = (name: string, zip?: Uint8Array) =>
          rpc(makeMessage(
            "main:app-store:sys",
            15,
            sortedJson({
              NewPackage: {
                package_id: { package_name: name, publisher_node: PUBLISHER },
                mirror: true,
              },
            }),
            zip,
          ));
        // no zip
        assertEquals((await newPkg("goodapp")).json, { NewPackageResponse: "NoBlob" });
        // not a zip; a zip-slip archive; a zip without manifest.json; a lying header
        assertEquals(
          (await newPkg("goodapp", new TextEncoder().encode("not a zip at all"))).json,
          { NewPackageResponse: "InstallFailed" },
        );
        const slip = makeZip([
          { name: "manifest.json", data: new TextEncoder().encode("[]") },
          { name: "../../../escape.txt", data: new TextEncoder().encode("owned") },
        ]);
        assertEquals((await newPkg("goodapp", slip)).json, { NewPackageResponse: "InstallFailed" });
        const noManifest = makeZip([{ name: "x.txt", data: new Uint8Array([1]) }]);
        assertEquals((await newPkg("goodapp", noManifest)).json, {
          NewPackageResponse: "InstallFailed",
        });
        const lying = makeZip([{
          name: "manifest.json",
          data: new TextEncoder().encode("[]"),
          declaredSize: 1_000_000,
        }]);
        assertEquals((await newPkg("goodapp", lying)).json, {
          NewPackageResponse: "InstallFailed",
        });
        for (const p of ["escape.txt", "vfs/escape.txt", "vfs/app-store:sys/escape.txt"]) {
          let found = true;
          try {
            await Deno.stat(`${n.home}/${p}`);
          } catch {
            found = false;
          }
          assert(!found, `zip-slip wrote ${p}`);
        }

        // Install of a hash we do not have; a malformed hash; metadata with wrong types
        assertEquals((await newPkg("goodapp", good.zip)).json, { NewPackageResponse: "Success" });
        const wrongHash = "0".repeat(64);
        assertEquals(
          (await rpc(installMessage(wrongHash, metadataFor("goodapp")))).json,
          { InstallResponse: "Failure" },
        );
        await n.waitForPrint(/error installing package goodapp:kit-dev\.os: no download of/);
        assertEquals(
          (await rpc(installMessage("nothex", metadataFor("goodapp")))).json,
          { InstallResponse: "Failure" },
        );
        const badMeta = metadataFor("goodapp") as unknown as {
          properties: Record<string, unknown>;
        };
        badMeta.properties.wit_version = "one";
        assertEquals(
          (await rpc(installMessage(good.hash, badMeta as unknown as KitMetadata))).json,
          { InstallResponse: "Failure" },
        );
        await n.waitForPrint(/Install\.metadata\.properties\.wit_version: expected a u32 or null/);
        assert(!n.node.isRunning("goodapp:goodapp:kit-dev.os"), "nothing installed");

        // a manifest asking for a capability from a process that does not exist
        const greedy = await kitPackage(root, "greedy", {
          request_capabilities: ["vfs:distro:sys", "nosuch:process:sys"],
        });
        const r = await startPackage(n, "greedy", greedy.zip, greedy.hash);
        assertEquals(r.json, { InstallResponse: "Failure" });
        await n.waitForPrint(/capability from nosuch:process:sys, which does not exist here/);
        assert(!n.node.isRunning("greedy:greedy:kit-dev.os"));
        let driveLeft = true;
        try {
          await Deno.stat(`${n.home}/vfs/greedy:${PUBLISHER}/pkg`);
        } catch {
          driveLeft = false;
        }
        assert(!driveLeft, "nothing half-installed stays");

        // uninstalling a system package; a malformed package id
        assertEquals(
          (await rpc(uninstallMessage("homepage", "sys"))).json,
          { UninstallResponse: "Failure" },
        );
        await n.waitForPrint(/homepage:sys is a system package and cannot be uninstalled/);
        assert(n.node.isRunning("homepage:homepage:sys"));
        assertEquals(
          (await rpc(uninstallMessage("Bad Name", PUBLISHER))).json,
          { UninstallResponse: "Failure" },
        );

        // the node and the app store still serve: the good package installs
        assertEquals(
          (await rpc(installMessage(good.hash, metadataFor("goodapp")))).json,
          { InstallResponse: "Success" },
        );
        await until(() => n.node.isRunning("goodapp:goodapp:kit-dev.os"), "goodapp running");
        assertMatch(String((await n.api("GET", "/installed")).status), /^200$/);
      } finally {
        await n.stop();
      }
    });
  },
});
