// The home screen in headless Chromium (Debian chromium + playwright-core), on
// a real node: log in at "/", the empty state, apps with an icon and a widget
// (fixtures/tileapp.js), favourites, keyboard and drag reordering that survive
// a reload, opening an app, search; in light, dark and at a phone's width.
// Screenshots go to tests/homepage/artifacts/.

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { assert, assertEquals } from "../assert.ts";
import { type App, appId, PASSWORD, withHomeNode } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** What Hyperdrive's homepage gives a widget's iframe. */
const WIDGET_SANDBOX = "allow-scripts allow-same-origin allow-forms allow-popups allow-modals";
const DESKTOP = { width: 1280, height: 800 };

async function launch(): Promise<Browser> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  // the greeting line moves with the clock: keep screenshots comparable
  await page.evaluate(
    'document.getElementById("greeting").textContent = "Good morning · Monday, June 1"',
  );
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

async function ready(page: Page): Promise<void> {
  await page.waitForSelector("body[data-state=ready]", { timeout: 15_000 });
}

function tileIds(page: Page, list = "#apps"): Promise<string[]> {
  return page.evaluate(
    `[...document.querySelectorAll(${JSON.stringify(`${list} > .tile`)})].map((e) => e.dataset.id)`,
  );
}

/** The same login in another context: a colour scheme or a viewport. */
async function sibling(
  browser: Browser,
  from: BrowserContext,
  opts: Parameters<Browser["newContext"]>[0],
): Promise<Page> {
  const ctx = await browser.newContext({ ...opts, storageState: await from.storageState() });
  return await ctx.newPage();
}

Deno.test({
  name: "homepage in Chromium: log in, empty state, tiles and widget, favourite, reorder",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHomeNode(async (n) => {
      const browser = await launch();
      try {
        const context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        const origin = n.base;

        // "/" without a login: the login page, then back to the home screen
        await page.goto(`${origin}/`);
        assertEquals(new URL(page.url()).pathname, "/login");
        await page.waitForSelector("#login-button:not([disabled])");
        await page.fill("#password", PASSWORD);
        await Promise.all([
          page.waitForURL(`${origin}/`, { timeout: 15_000 }),
          page.click("#login-button"),
        ]);
        await ready(page);
        assertEquals(await page.title(), "home.dev - home");
        assertEquals(await page.textContent("#node-name"), "home.dev");

        // nothing installed: the empty state points to the app store
        assert(await page.isVisible("#empty"));
        assertEquals(
          await page.getAttribute("#empty a.button", "href"),
          "/main:app-store:sys/",
        );
        assert(!(await page.isVisible("#widgets-section")));
        await shot(page, "01-empty-light");
        const dark0 = await sibling(browser, context, { viewport: DESKTOP, colorScheme: "dark" });
        await dark0.goto(`${origin}/`);
        await ready(dark0);
        await shot(dark0, "02-empty-dark");
        await dark0.context().close();

        // three apps: an icon, a widget, an app at its prefix's root
        for (const name of ["notes", "weather", "files"]) await n.installApp(name);
        await page.reload();
        await ready(page);
        assertEquals(await tileIds(page), [appId("notes"), appId("weather"), appId("files")]);
        assert(!(await page.isVisible("#empty")));
        const notesTile = `#apps .tile[data-id="${appId("notes")}"]`;
        assertEquals(
          await page.getAttribute(`${notesTile} a.tile-main`, "href"),
          "/notes:notes:test.os/",
        );
        assert(
          (await page.getAttribute(`${notesTile} .icon img`, "src"))!.startsWith(
            "data:image/svg+xml;base64,",
          ),
        );
        // no icon: a monogram
        assertEquals(
          await page.textContent(`#apps .tile[data-id="${appId("weather")}"] .icon`),
          "We",
        );
        // the widget: a sandboxed srcdoc iframe whose script ran
        const frameSel = `.widget[data-id="${appId("weather")}"] iframe`;
        assertEquals(await page.getAttribute(frameSel, "sandbox"), WIDGET_SANDBOX);
        assert((await page.getAttribute(frameSel, "srcdoc"))!.includes("Sunny in Lisbon"));
        const frame = page.frameLocator(frameSel);
        await frame.locator("#ran").filter({ hasText: "updated" }).waitFor({ timeout: 10_000 });
        await shot(page, "03-apps-light");

        // favourite: the star, then the dock; saved on the node
        await page.click(`${notesTile} button.fav`);
        await page.waitForSelector(`${notesTile} button.fav[aria-pressed="true"]`);
        assertEquals(await tileIds(page, "#favorites"), [appId("notes")]);
        const appsNow = async () => await (await n.get("/apps")).json() as App[];
        const until = async (pred: (apps: App[]) => boolean, what: string) => {
          const end = Date.now() + 10_000;
          for (;;) {
            const apps = await appsNow();
            if (pred(apps)) return apps;
            if (Date.now() > end) throw new Error(`never ${what}: ${JSON.stringify(apps)}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        await until((a) => a.find((x) => x.id === appId("notes"))!.favorite, "notes favourite");
        // focus stayed on the star for the next key press
        assertEquals(
          await page.evaluate("document.activeElement.dataset.part"),
          "fav",
        );

        // keyboard: Alt+Left twice moves Files to the front
        await page.focus(`#apps .tile[data-id="${appId("files")}"] .tile-main`);
        await page.keyboard.press("Alt+ArrowLeft");
        await page.keyboard.press("Alt+ArrowLeft");
        assertEquals(await tileIds(page), [appId("files"), appId("notes"), appId("weather")]);
        await page.waitForFunction(
          'document.getElementById("live").textContent === "Files moved to position 1 of 3"',
        );
        const orderOf = (apps: App[]) =>
          apps.slice().sort((a, b) => a.order - b.order).map((a) => a.id);
        await until(
          (a) => orderOf(a).join() === [appId("files"), appId("notes"), appId("weather")].join(),
          "files first",
        );
        // arrows without Alt walk the tiles
        await page.keyboard.press("ArrowRight");
        assertEquals(
          await page.evaluate('document.activeElement?.closest("li")?.dataset.id'),
          appId("notes"),
        );

        // drag: Weather onto the first place
        const from = (await page.locator(`#apps .tile[data-id="${appId("weather")}"]`)
          .boundingBox())!;
        const to = (await page.locator(`#apps .tile[data-id="${appId("files")}"]`)
          .boundingBox())!;
        await page.mouse.move(from.x + from.width / 2, from.y + 30);
        await page.mouse.down();
        await page.mouse.move(from.x + from.width / 2 - 10, from.y + 34, { steps: 3 });
        await page.mouse.move(to.x + 20, to.y + 30, { steps: 10 });
        assert(await page.isVisible(".tile.ghost"), "dragging shows the tile under the pointer");
        await page.mouse.up();
        assertEquals(await tileIds(page), [appId("weather"), appId("files"), appId("notes")]);
        assertEquals(new URL(page.url()).pathname, "/"); // the drop opened nothing
        await until(
          (a) => orderOf(a).join() === [appId("weather"), appId("files"), appId("notes")].join(),
          "weather first",
        );

        // a reload shows what the node saved
        await page.reload();
        await ready(page);
        assertEquals(await tileIds(page), [appId("weather"), appId("files"), appId("notes")]);
        assertEquals(await tileIds(page, "#favorites"), [appId("notes")]);
        await shot(page, "04-favourite-and-order-light");

        const dark = await sibling(browser, context, { viewport: DESKTOP, colorScheme: "dark" });
        await dark.goto(`${origin}/`);
        await ready(dark);
        await dark.frameLocator(frameSel).locator("#ran").filter({ hasText: "updated" }).waitFor();
        await shot(dark, "05-apps-dark");
        await dark.context().close();

        const phone = await sibling(browser, context, {
          viewport: { width: 390, height: 844 },
          deviceScaleFactor: 2,
          isMobile: true,
          hasTouch: true,
        });
        await phone.goto(`${origin}/`);
        await ready(phone);
        await phone.frameLocator(frameSel).locator("#ran").filter({ hasText: "updated" }).waitFor();
        await shot(phone, "06-phone");
        // edit mode on a phone: every tile offers its star, taps open nothing
        await phone.tap("#edit");
        assertEquals(await phone.getAttribute("#edit", "aria-pressed"), "true");
        await phone.tap(`#apps .tile[data-id="${appId("files")}"] .tile-main`);
        assertEquals(new URL(phone.url()).pathname, "/");
        await shot(phone, "07-phone-editing");
        await phone.context().close();

        // search: "/" focuses it, a query narrows the tiles, Enter opens the first
        await page.keyboard.press("/");
        await page.keyboard.type("wea");
        assertEquals(await tileIds(page), [appId("weather")]);
        assert(!(await page.isVisible("#favorites-section")));
        await page.fill("#filter", "zzz");
        assert(await page.isVisible("#no-match"));
        await page.fill("#filter", "");
        assertEquals((await tileIds(page)).length, 3);

        // a tile opens its app
        await Promise.all([
          page.waitForURL(`${origin}/notes:notes:test.os/`, { timeout: 15_000 }),
          page.click(`#apps .tile[data-id="${appId("notes")}"] .tile-main`),
        ]);
        assertEquals(await page.textContent("#app"), "Notes");
        assertEquals(errors, []);
      } finally {
        await browser.close();
      }
    });
  },
});
