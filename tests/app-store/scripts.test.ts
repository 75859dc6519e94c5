// The app store's scripts at the terminal, as Hyperdrive's: `download:app-store:sys <node>
// <package> <hash>`, `install:app-store:sys <package> <hash>`, `uninstall:app-store:sys
// <package>`, `reset-store:app-store:sys`, each with its usage when the arguments are wrong.

import { assert } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { bigPackageZip, bootStoreNode, type StoreNode, until } from "./helpers.ts";
import { kitRpc, newPackageMessage, sha256Hex } from "./kit.ts";

function teach(n: StoreNode, other: StoreNode) {
  return n.node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: other.node.identity }),
  );
}

Deno.test({
  name: "app store scripts: download, install, uninstall, reset-store at the terminal",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const alice = await bootStoreNode(`${root}/alice`, { name: "alice.os" });
      const bob = await bootStoreNode(`${root}/bob`, {
        name: "bob.os",
        pki: [alice.node.identity],
        distro: ["homepage", "app-store", "terminal"],
        console: true,
      });
      try {
        await teach(alice, bob);
        const zip = bigPackageZip(1024 * 1024, 5);
        const hash = await sha256Hex(zip);
        await kitRpc(alice.base, newPackageMessage("big", "alice.os", zip));
        await until(() => bob.node.isRunning("terminal:terminal:sys"), "terminal");

        bob.line("download:app-store:sys alice.os");
        await bob.waitForPrint(/download: 3 arguments required/);
        bob.line(`download:app-store:sys alice.os big:alice.os ${hash}`);
        await bob.waitForPrint(/download: request sent, started download from alice\.os/);
        await bob.waitForPrint(
          new RegExp(`downloaded big:alice\\.os ${hash.slice(0, 8)} from alice\\.os`),
        );

        bob.line("install:app-store:sys big:alice.os");
        await bob.waitForPrint(/install: 2 arguments required/);
        bob.line(`install:app-store:sys big:alice.os ${"0".repeat(64)}`);
        await bob.waitForPrint(/failed to install package big:alice\.os/);
        bob.line(`install:app-store:sys big:alice.os ${hash}`);
        await bob.waitForPrint(/successfully installed package big:alice\.os/);
        assert(bob.node.isRunning("big:big:alice.os"));

        bob.line("uninstall:app-store:sys Not-A-Package");
        await bob.waitForPrint(/uninstall: invalid package id/);
        bob.line("uninstall:app-store:sys big:alice.os");
        await bob.waitForPrint(/successfully uninstalled package big:alice\.os/);
        assert(!bob.node.isRunning("big:big:alice.os"));
        bob.line("uninstall:app-store:sys homepage:sys");
        await bob.waitForPrint(/failed to uninstall package homepage:sys!/);

        bob.line("reset-store:app-store:sys");
        await bob.waitForPrint(/successfully reset app-store/);
      } finally {
        await bob.stop();
        await alice.stop();
      }
    });
  },
});
