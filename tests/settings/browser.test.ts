// Settings in headless Chromium (Debian chromium + playwright-core) on a real node
// with the distro packages and a second node as a peer: log in at "/", the Settings
// tile and widget on the homepage, open Settings from its tile (its secure subdomain
// asks for its own login), see identity, peers, providers and processes; stop a test
// app, add a provider (and a bad one), remove it, make RPC access public and deny a
// node, change the stylesheet and see it on the homepage, restore it; light, dark and
// a phone's width; shut the node down. Screenshots go to tests/settings/artifacts/.

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { assert, assertEquals } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { encodeNetAction } from "../../net/codec.ts";
import type { HnsUpdate } from "../../wire/net.ts";
import {
  appId,
  NODE_NAME,
  PASSWORD,
  SETTINGS,
  type SettingsNode,
  SUBDOMAIN,
  until,
  withSettingsNode,
} from "./helpers.ts";

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
const dec = new TextDecoder();

async function launch(): Promise<Browser> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  // the moving parts (the homepage's greeting, "updated ... ago") held still
  await page.evaluate(`{
    const g = document.getElementById("greeting");
    if (g) g.textContent = "Good morning · Monday, June 1";
    const u = document.getElementById("updated");
    if (u) u.textContent = "updated just now";
  }`);
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage });
}

async function ready(page: Page): Promise<void> {
  await page.waitForSelector("body[data-state=ready]", { timeout: 15_000 });
}

async function sibling(
  browser: Browser,
  from: BrowserContext,
  opts: Parameters<Browser["newContext"]>[0],
): Promise<Page> {
  const ctx = await browser.newContext({ ...opts, storageState: await from.storageState() });
  return await ctx.newPage();
}

async function ethProviders(n: SettingsNode): Promise<{ chain_id: number; provider: unknown }[]> {
  const res = await n.node.request("our@eth:distro:sys", '"GetProviders"');
  return JSON.parse(dec.decode(res.body)).Providers;
}

function teach(node: { send(t: string, b: Uint8Array): Promise<void> }, update: HnsUpdate) {
  return node.send("our@net:distro:sys", encodeNetAction({ tag: "HnsUpdate", update }));
}

Deno.test({
  name: "settings in Chromium: from the homepage tile to identity, peers, eth, processes",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withSettingsNode(async (n, home) => {
      await n.installApp("notes");
      // a peer: known through its PKI record, then greeted
      const peer = await bootNode({
        home: `${home}/peer`,
        name: "peer.dev",
        httpPort: false,
        tcpPort: 0,
        wsPort: false,
        pki: [n.node.identity],
        onPrint: () => {},
      });
      const browser = await launch();
      try {
        await teach(n.node, peer.identity);
        const hi = await n.ask({ Hi: { node: "peer.dev", content: "hello", timeout: 5 } });
        assertEquals(hi.status, 200);

        const context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));

        // log in at "/": the homepage, with Settings in the favourites and its widget
        await page.goto(`${n.base}/`);
        await page.waitForSelector("#login-button:not([disabled])");
        await page.fill("#password", PASSWORD);
        await Promise.all([page.waitForURL(`${n.base}/`), page.click("#login-button")]);
        await ready(page);
        const tile = `#apps .tile[data-id="${SETTINGS}"]`;
        await page.waitForSelector(tile);
        assertEquals(await page.textContent(`${tile} .label`), "Settings");
        assert(await page.isVisible(`#favorites .tile[data-id="${SETTINGS}"]`), "a favourite");
        const widget = page.frameLocator(`.widget[data-id="${SETTINGS}"] iframe`);
        assertEquals(await widget.locator(".name").textContent(), NODE_NAME);
        await widget.locator("#n-network").filter({ hasText: "1" }).waitFor();
        await shot(page, "01-homepage-tile-and-widget");

        // the tile opens settings on its secure subdomain, which asks for its own login
        await page.click(`${tile} .tile-main`);
        await page.waitForSelector("#login-button:not([disabled])");
        const url = new URL(page.url());
        assertEquals([url.hostname, url.pathname], [`${SUBDOMAIN}.localhost`, "/login"]);
        await page.fill("#password", PASSWORD);
        await Promise.all([
          page.waitForURL(`http://${SUBDOMAIN}.localhost:${n.port}/${SETTINGS}`),
          page.click("#login-button"),
        ]);
        await ready(page);
        assertEquals(await page.title(), `Settings · ${NODE_NAME}`);

        // identity
        assertEquals(await page.textContent("#id-name"), NODE_NAME);
        assertEquals(await page.textContent("#id-key"), n.node.identity.public_key);
        assertEquals(await page.textContent("#id-ip"), "127.0.0.1");
        assertEquals(await page.textContent("#id-routing-badge"), "Direct");
        // peers
        await page.waitForSelector('#peers [data-peer="peer.dev"]');
        assertEquals(await page.textContent("#peer-count"), "1");
        // look a node up; say hi to one nobody knows
        await page.fill("#lookup-node", "peer.dev");
        await page.click("#lookup-form button");
        await page.waitForSelector("#lookup-result.ok");
        assert((await page.textContent("#lookup-result"))!.includes(peer.identity.public_key));
        await page.fill("#hi-node", "nobody.dev");
        await page.click("#hi-form button");
        await page.waitForSelector("#hi-result.bad");
        assertEquals(
          await page.textContent("#hi-result"),
          "nobody.dev is offline or does not exist",
        );
        await page.locator("#network").screenshot({ path: `${ARTIFACTS}02b-network.png` });
        // providers: what eth has
        const before = await ethProviders(n);
        assertEquals(await page.locator("#providers > li").count(), before.length);
        // processes: apps and the runtime
        for (const pid of [appId("notes"), SETTINGS, "kernel:distro:sys"]) {
          assert(await page.isVisible(`#process-list [data-process="${pid}"]`), pid);
        }
        assertEquals(
          await page.textContent(`[data-process="${SETTINGS}"] .badge`),
          "This app",
        );
        // a process's capabilities, on demand
        await page.click(`[data-process="${SETTINGS}"] .caps-toggle`);
        const caps = await page.textContent(`[data-process="${SETTINGS}"] .caps`);
        assert(caps!.includes(`${NODE_NAME}@eth:distro:sys {"root":true}`), caps!);
        await page.click(`[data-process="${SETTINGS}"] .caps-toggle`);
        assert(await page.isHidden(`[data-process="${SETTINGS}"] .caps`), "caps folded");
        await shot(page, "02-settings-light");
        await shot(page, "03-settings-light-full", true);

        // stop the test app: a confirmation, then it is gone from the node and the list
        await page.click(`[data-process="${appId("notes")}"] button.subtle-danger`);
        await page.waitForSelector("#confirm[open]");
        assertEquals(await page.textContent("#confirm-title"), `Stop ${appId("notes")}?`);
        await shot(page, "04-stop-confirm");
        await page.click("#confirm-ok");
        await page.waitForSelector(`[data-process="${appId("notes")}"]`, { state: "detached" });
        assert(!n.node.isRunning(appId("notes")), "notes stopped");
        await page.waitForSelector(".toast", { state: "visible" });

        // providers: a bad URL is refused with the node's reason; a good one added, removed
        await page.locator("#ethereum").scrollIntoViewIfNeeded();
        await page.fill("#provider-chain", "31337");
        await page.fill("#provider-target", "nonsense");
        await page.click("#provider-form button[type=submit]");
        await page.waitForSelector("#provider-error:not([hidden])");
        assertEquals(
          await page.textContent("#provider-error"),
          '"nonsense" is not a URL (e.g. wss://eth.example.com/ws)',
        );
        await page.locator("#ethereum").screenshot({ path: `${ARTIFACTS}05-provider-error.png` });
        const rpc = "ws://127.0.0.1:9/rpc";
        await page.fill("#provider-target", rpc);
        await page.click("#provider-form button[type=submit]");
        const row = `#providers [data-provider="31337 ${rpc}"]`;
        await page.waitForSelector(row);
        assert(await page.isHidden("#provider-error"), "the error went away");
        assert(
          (await ethProviders(n)).some((p) => p.chain_id === 31337),
          "eth has the new provider",
        );
        // access: public, and a denied node
        await page.click(".switch");
        await page.waitForFunction(
          'document.getElementById("access-label").textContent === "Public"',
        );
        await page.fill('#deny-box input[type="text"]', "pest.dev");
        await page.click("#deny-box button[type=submit]");
        await page.waitForSelector('#deny-list .chip:has-text("pest.dev")');
        const access = JSON.parse(
          dec.decode((await n.node.request("our@eth:distro:sys", '"GetAccessSettings"')).body),
        ).AccessSettings;
        assertEquals(access, { public: true, allow: [], deny: ["pest.dev"] });
        // a change made elsewhere arrives over the WebSocket, well before the next poll
        const t0 = Date.now();
        await n.ask({ EthConfig: { AllowNode: "friend.dev" } });
        await page.waitForSelector('#allow-list .chip:has-text("friend.dev")', { timeout: 5000 });
        assert(Date.now() - t0 < 5000, "pushed");
        // a read settings answered before a change, delivered after the change's push, does
        // not take the page back (the UI re-reads after each of its own changes, so this race
        // is always there under load)
        // (the page's fetch holds the next GET /ask answer until released)
        await page.evaluate(`{
          const real = window.fetch;
          window.fetch = async (input, init) => {
            const res = await real(input, init);
            if ((init?.method ?? "GET") === "GET" && String(input).endsWith("/ask")) {
              window.fetch = real; // once
              window.heldRead = true;
              await new Promise((r) => (window.releaseRead = r));
            }
            return res;
          };
        }`);
        await page.click("#refresh");
        await page.waitForFunction("window.heldRead === true");
        await n.ask({ EthConfig: { AllowNode: "second.dev" } });
        const second = '#allow-list .chip:has-text("second.dev")';
        await page.waitForSelector(second, { timeout: 5000 });
        await page.evaluate("window.releaseRead()");
        await page.waitForFunction(
          '!document.getElementById("refresh").classList.contains("busy")',
        );
        assert(await page.isVisible(second), "the older read did not undo the pushed change");
        await page.locator("#ethereum").screenshot({ path: `${ARTIFACTS}06-ethereum.png` });
        await page.click(`${row} button`);
        await page.waitForSelector("#confirm[open]");
        await page.click("#confirm-ok");
        await page.waitForSelector(row, { state: "detached" });
        assertEquals(await ethProviders(n), before);

        // the stylesheet: saved here, seen on the homepage
        const original = await (await n.get("/hyperware.css", { cookie: false })).text();
        assertEquals(await page.inputValue("#css"), original);
        // one colour changed, as someone would
        assert(original.includes("--hw-bg: #f4f5f7;"), "the default light background");
        await page.fill("#css", original.replace("--hw-bg: #f4f5f7;", "--hw-bg: rgb(12, 80, 60);"));
        assertEquals(await page.textContent("#css-status"), "Unsaved changes");
        await page.click("#css-save");
        await page.waitForFunction(
          'document.getElementById("css-status").textContent.startsWith("Saved")',
        );
        // settings tells homepage without waiting (as Hyperdrive's does): homepage saves and
        // re-binds the stylesheet moments later, so wait until it is served
        const deadline = Date.now() + 10_000;
        while (
          !(await (await n.get("/hyperware.css", { cookie: false })).text()).includes(
            "rgb(12, 80, 60)",
          )
        ) {
          assert(Date.now() < deadline, "homepage serves the saved stylesheet");
          await new Promise((r) => setTimeout(r, 50));
        }
        const homepage = await context.newPage();
        await homepage.goto(`${n.base}/`);
        await ready(homepage);
        assertEquals(
          await homepage.evaluate("getComputedStyle(document.documentElement).backgroundColor"),
          "rgb(12, 80, 60)",
        );
        await shot(homepage, "07-homepage-restyled");
        await homepage.close();
        // this page took it at once too
        await page.waitForFunction(
          'getComputedStyle(document.documentElement).backgroundColor === "rgb(12, 80, 60)"',
        );
        // restore the package's own
        await page.click("#css-default");
        await page.waitForSelector("#confirm[open]");
        await page.click("#confirm-ok");
        await until(async () => {
          const css = await (await n.get("/hyperware.css", { cookie: false })).text();
          return css === original;
        }, "the default stylesheet back");
        assertEquals(await page.inputValue("#css"), original);

        // verbosity: the node's level is shown and can be set
        await page.waitForSelector('#verbosity button[data-level="1"][aria-checked="true"]');
        await page.click('#verbosity button[data-level="2"]');
        await page.waitForSelector('#verbosity button[data-level="2"][aria-checked="true"]');
        assertEquals(
          JSON.parse(new TextDecoder().decode(
            (await n.node.request("our@kernel:distro:sys", '{"Debug":"Verbosity"}')).body,
          )),
          { Debug: { Verbosity: { level: 2 } } },
        );

        // dark, and a phone
        const dark = await sibling(browser, context, { viewport: DESKTOP, colorScheme: "dark" });
        await dark.goto(page.url());
        await ready(dark);
        await shot(dark, "08-settings-dark");
        await dark.locator("#processes").scrollIntoViewIfNeeded();
        await dark.waitForTimeout(300);
        await shot(dark, "09-settings-dark-processes");
        await dark.context().close();
        const phone = await sibling(browser, context, {
          viewport: { width: 390, height: 844 },
          deviceScaleFactor: 2,
          isMobile: true,
          hasTouch: true,
        });
        await phone.goto(page.url());
        await ready(phone);
        await shot(phone, "10-phone");
        await phone.tap('.side a[href="#ethereum"]');
        await phone.waitForTimeout(400);
        await shot(phone, "11-phone-ethereum");
        await phone.context().close();

        // shut down: confirmed, then the node stops and the page says so
        await page.click("#shutdown");
        await page.waitForSelector("#confirm[open]");
        await page.click("#confirm-ok");
        await page.waitForSelector("#gone", { state: "visible" });
        await until(
          () => Promise.resolve(!n.node.isRunning(SETTINGS)),
          "the node shut down",
        );
        await shot(page, "12-shut-down");
        assertEquals(errors, []);
      } finally {
        await browser.close();
        await peer.shutdown();
      }
    });
  },
});
