// The App Store in headless Chromium (Debian chromium + playwright-core), on real nodes and
// the local chain: alice publishes Notes (a 20 MB package) on Hypermap and mirrors it; on
// bob's node: log in, the homepage with the App Store tile and widget, open the App Store
// from its tile (its secure subdomain asks for its own login), find Notes, download it from
// alice with its progress bar, approve its capabilities and install it, see its tile on the
// homepage, refuse a capability on a reinstall (refused, still installed), uninstall it
// from My apps; dark mode and a phone's width. Screenshots go to tests/app-store/artifacts/.

import { type Browser, chromium, type Page } from "playwright-core";
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { startChain } from "../../chain/mod.ts";
import { encodeNetAction } from "../../net/codec.ts";
import { bootStoreNode, MAIN, PASSWORD, type StoreNode, SUBDOMAIN, until } from "./helpers.ts";
import { kitRpc, makeZip, newPackageMessage, sha256Hex } from "./kit.ts";
import { publishApp, serveFiles } from "./publish.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const DESKTOP = { width: 1280, height: 860 };
const enc = new TextEncoder();
const TILEAPP = new URL("../homepage/fixtures/tileapp.js", import.meta.url);
const NOTES_ICON = "data:image/svg+xml;base64," + btoa(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#ffb020"/>' +
    '<rect x="16" y="12" width="32" height="40" rx="4" fill="#fff"/>' +
    '<path d="M22 24h20M22 32h20M22 40h12" stroke="#c77700" stroke-width="3" stroke-linecap="round"/></svg>',
);

async function notesZip(): Promise<Uint8Array> {
  const data = new Uint8Array(20 * 1024 * 1024);
  let x = 12345;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  const caps = ["http-server:distro:sys", "homepage:homepage:sys"];
  const manifest = [{
    process_name: "notes",
    process_wasm_path: "/notes.js",
    on_exit: "Restart",
    request_networking: false,
    request_capabilities: [...caps, "vfs:distro:sys"],
    grant_capabilities: caps,
    public: false,
  }];
  return makeZip([
    { name: "assets/" },
    { name: "assets/notes-data.bin", data, stored: true },
    { name: "manifest.json", data: enc.encode(JSON.stringify(manifest)) },
    { name: "notes.js", data: await Deno.readFile(TILEAPP) },
  ]);
}

function metadata(hash: string): Uint8Array {
  return enc.encode(JSON.stringify({
    name: "Notes",
    description: "Quick notes that live on your node. Jot things down, pin the important ones, " +
      "and find them from the home screen.",
    image: NOTES_ICON,
    properties: {
      package_name: "notes",
      current_version: "1.2.0",
      publisher: "alice.os",
      mirrors: [],
      code_hashes: { "1.2.0": hash },
      license: "MIT",
      wit_version: 1,
      dependencies: [],
    },
    external_url: "",
    animation_url: "",
  }));
}

function otherMetadata(name: string, description: string): Uint8Array {
  return enc.encode(JSON.stringify({
    name,
    description,
    image: "",
    properties: {
      package_name: name.toLowerCase(),
      current_version: "0.3.1",
      publisher: "alice.os",
      mirrors: [],
      code_hashes: { "0.3.1": "ab".repeat(32) },
      wit_version: 1,
      dependencies: [],
    },
  }));
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.evaluate(`{
    const g = document.getElementById("greeting");
    if (g) g.textContent = "Good morning · Monday, June 1";
  }`);
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage });
}

async function launch(): Promise<Browser> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

function teach(n: StoreNode, other: StoreNode) {
  return n.node.send(
    "our@net:distro:sys",
    encodeNetAction({ tag: "HnsUpdate", update: other.node.identity }),
  );
}

Deno.test({
  name:
    "app store in Chromium: from the homepage tile to an app from another node, installed and removed",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const chain = await startChain({ port: 0 });
      const files = new Map<string, Uint8Array>();
      const web = serveFiles(files);
      const nodes: StoreNode[] = [];
      let browser: Browser | undefined;
      try {
        const zip = await notesZip();
        const hash = await sha256Hex(zip);
        const meta = metadata(hash);
        files.set("/notes.json", meta);
        await publishApp(chain.url, "alice.os", "notes", `${web.url}/notes.json`, meta);
        const others: [string, string][] = [
          ["Weather", "Forecasts for the places you care about, fetched by your own node."],
          ["Chess", "Play chess with other nodes, peer to peer, no server in between."],
          ["Files", "Browse, share and back up the files your apps keep."],
        ];
        for (const [name, desc] of others) {
          const m = otherMetadata(name, desc);
          files.set(`/${name}.json`, m);
          await publishApp(chain.url, "alice.os", name.toLowerCase(), `${web.url}/${name}.json`, m);
        }

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
          (await kitRpc(alice.base, newPackageMessage("notes", "alice.os", zip))).json,
          { NewPackageResponse: "Success" },
        );
        await until(
          async () => ((await bob.api("GET", "/apps")).json as unknown[]).length === 4,
          "listings",
          60_000,
        );

        browser = await launch();
        const context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
        context.setDefaultTimeout(30_000);
        const page = await context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));

        // log in at "/": the homepage with the App Store's tile and widget
        await page.goto(`${bob.base}/`);
        await page.waitForSelector("#login-button:not([disabled])");
        await page.fill("#password", PASSWORD);
        await Promise.all([page.waitForURL(`${bob.base}/`), page.click("#login-button")]);
        const tile = `#apps .tile[data-id="${MAIN}"]`;
        await page.waitForSelector(tile);
        assertEquals(await page.textContent(`${tile} .label`), "App Store");
        const widget = page.frameLocator(`.widget[data-id="${MAIN}"] iframe`);
        await widget.locator(".app").first().waitFor();
        assertEquals(await widget.locator(".app").count(), 4);
        await shot(page, "01-homepage-tile-and-widget");

        // the tile opens the App Store on its secure subdomain, which asks for its own login
        await page.click(`${tile} .tile-main`);
        await page.waitForSelector("#login-button:not([disabled])");
        assertEquals(new URL(page.url()).hostname, `${SUBDOMAIN}.localhost`);
        await page.fill("#password", PASSWORD);
        await Promise.all([
          page.waitForURL(`http://${SUBDOMAIN}.localhost:${bob.port}/${MAIN}`),
          page.click("#login-button"),
        ]);
        await page.waitForSelector("body[data-state=ready]");
        await page.waitForSelector('#app-grid [data-app="notes:alice.os"]');
        assertEquals(await page.locator("#app-grid .app-card").count(), 4);
        await shot(page, "02-discover");
        // search
        await page.fill("#search", "chess");
        await page.waitForFunction('document.querySelectorAll("#app-grid .app-card").length === 1');
        await page.fill("#search", "");

        // the app page: download from alice with a progress bar
        await page.click('#app-grid [data-app="notes:alice.os"]');
        await page.waitForSelector("#app-name");
        assertEquals(await page.textContent("#app-name"), "Notes");
        await page.waitForSelector(".mirror .dot.on");
        await shot(page, "03-app-page");
        await page.click("#download");
        const bar = page.locator('[data-transfer="notes:alice.os/' + hash + '"]');
        await bar.waitFor();
        await page.waitForFunction(
          `Number(document.querySelector('[data-transfer="notes:alice.os/${hash}"]')?.dataset.percent ?? "0") > 0`,
          undefined,
          { polling: 20 },
        ).catch(() => {});
        await page.waitForTimeout(160); // the bar's width transition
        await shot(page, "04-downloading");
        await page.waitForSelector("#install");
        await shot(page, "05-downloaded");

        // install: the capability approval step
        await page.click("#install");
        await page.waitForSelector("#approve[open]");
        const caps = await page.locator("#approve-list input[data-cap]").evaluateAll((els) =>
          els.map((e) => (e as unknown as { value: string }).value)
        );
        assertEquals(caps.sort(), [
          "homepage:homepage:sys",
          "http-server:distro:sys",
          "vfs:distro:sys",
        ]);
        await shot(page, "06-approve-capabilities");
        await page.click("#approve-ok");
        await page.waitForSelector(".toast >> text=Installed Notes");
        await until(() => bob.node.isRunning("notes:notes:alice.os"), "notes running");
        await page.waitForSelector("#uninstall");
        await shot(page, "07-installed");

        // its tile on the homepage
        const home = await context.newPage();
        await home.goto(`${bob.base}/`);
        await home.waitForSelector('#apps .tile[data-id="notes:notes:alice.os"]');
        await shot(home, "08-homepage-with-notes");

        // a reinstall with a capability refused: the install is refused, Notes keeps running
        await page.bringToFront();
        await page.click(`[data-install="${hash}"]`);
        await page.waitForSelector("#approve[open]");
        await page.uncheck('#approve-list input[data-cap="homepage:homepage:sys"]');
        await page.click("#approve-ok");
        await page.waitForSelector("#install-error");
        const why = await page.textContent("#install-error");
        assert(why!.includes("capability homepage:homepage:sys was not approved"), why!);
        assert(bob.node.isRunning("notes:notes:alice.os"), "still running after a refused install");
        await shot(page, "09-capability-refused");
        await page.evaluate(`location.hash = "#/downloads"`);
        await page.waitForSelector('[data-package="notes:alice.os"]');
        await shot(page, "09b-downloads");

        // My apps: uninstall with a confirmation
        await page.evaluate(`location.hash = "#/my-apps"`);
        await page.waitForSelector('#installed-list [data-installed="notes:alice.os"]');
        await shot(page, "10-my-apps");
        await page.click('[data-installed="notes:alice.os"] button.subtle-danger');
        await page.waitForSelector("#confirm[open]");
        await shot(page, "11-uninstall-confirm");
        await page.click("#confirm-ok");
        await page.waitForSelector('[data-installed="notes:alice.os"]', { state: "detached" });
        assert(!bob.node.isRunning("notes:notes:alice.os"), "uninstalled");
        await home.reload();
        await home.waitForSelector(`#apps .tile[data-id="${MAIN}"]`);
        assertEquals(await home.locator('#apps .tile[data-id="notes:notes:alice.os"]').count(), 0);

        // dark, and a phone
        const dark = await browser.newContext({
          viewport: DESKTOP,
          colorScheme: "dark",
          storageState: await context.storageState(),
        });
        const dp = await dark.newPage();
        await dp.goto(`http://${SUBDOMAIN}.localhost:${bob.port}/${MAIN}/`);
        await dp.waitForSelector("#app-grid .app-card");
        await shot(dp, "12-discover-dark");
        await dp.goto(`http://${SUBDOMAIN}.localhost:${bob.port}/${MAIN}/#/app/notes:alice.os`);
        await dp.waitForSelector("#app-name");
        await shot(dp, "13-app-page-dark");
        const phone = await browser.newContext({
          viewport: { width: 390, height: 844 },
          deviceScaleFactor: 2,
          colorScheme: "light",
          storageState: await context.storageState(),
        });
        const pp = await phone.newPage();
        await pp.goto(`http://${SUBDOMAIN}.localhost:${bob.port}/${MAIN}/`);
        await pp.waitForSelector("#app-grid .app-card");
        await shot(pp, "14-discover-phone", true);
        await pp.goto(`http://${SUBDOMAIN}.localhost:${bob.port}/${MAIN}/#/app/notes:alice.os`);
        await pp.waitForSelector("#app-name");
        await shot(pp, "15-app-page-phone", true);
        assertEquals(errors, []);
      } finally {
        await browser?.close();
        for (const n of nodes.reverse()) await n.stop();
        await web.stop();
        await chain.stop();
      }
    });
  },
});
