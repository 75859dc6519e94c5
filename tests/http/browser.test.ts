// The login flows in headless Chromium (Debian chromium + playwright-core):
// the browser hashes the password itself, gets the cookie, reaches an
// authenticated page served by a process and sees window.our.node; the app's
// secure subdomain needs its own login; a first boot sets the password in the
// page. Screenshots go to tests/http/artifacts/.

import { type Browser, chromium, type Page } from "playwright-core";
import { assert, assertEquals } from "../assert.ts";
import { createHttpClient } from "../../modules/http_client/mod.ts";
import { createHttpServer, promptPasswordInBrowser } from "../../modules/http_server/mod.ts";
import { bootNode } from "../../main.ts";
import { bootHttpNode, NODE_NAME, WEBAPP } from "./node_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

async function launch(): Promise<Browser> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}

const PASSWORD = "browser password";

Deno.test({
  name: "browser: log in, reach a process's authenticated page, see window.our.node",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "hyperdeno-browser-" });
    const n = await bootHttpNode(home, { password: PASSWORD });
    const browser = await launch();
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const origin = `http://localhost:${n.port}`;
      await page.goto(`${origin}/${WEBAPP}/`);
      // not logged in: the login page, with the app path kept for afterwards
      assertEquals(new URL(page.url()).pathname, "/login");
      assertEquals(new URL(page.url()).searchParams.get("redirect"), `/${WEBAPP}/`);
      await page.waitForSelector("#login-button:not([disabled])");
      await shot(page, "01-login-page");

      await page.fill("#password", "wrong password!");
      await page.click("#login-button");
      await page.waitForSelector("#password-err", { state: "visible", timeout: 15_000 });
      await shot(page, "02-wrong-password");
      assertEquals((await context.cookies()).length, 0);

      await page.fill("#password", PASSWORD);
      await Promise.all([
        page.waitForURL(`${origin}/${WEBAPP}/`, { timeout: 15_000 }),
        page.click("#login-button"),
      ]);
      await page.waitForFunction('document.getElementById("who")?.textContent !== ""');
      assertEquals(
        await page.evaluate(() => (window as unknown as { our: { node: string } }).our.node),
        NODE_NAME,
      );
      assertEquals(await page.textContent("#who"), `node: ${NODE_NAME}`);
      await shot(page, "03-app-page");
      const cookies = await context.cookies();
      const auth = cookies.find((c) => c.name === `hyperware-auth_${NODE_NAME}`);
      assert(auth, JSON.stringify(cookies));
      // the browser kept the attributes: no script reads the token, no other site sends it
      assertEquals([auth.httpOnly, auth.sameSite], [true, "Strict"]);
      assertEquals(await page.evaluate("document.cookie"), "");

      // the app's secure subdomain: its own login, scoped to the app
      const subOrigin = `http://webapp-test-os.localhost:${n.port}`;
      await page.goto(`${subOrigin}/${WEBAPP}/secure`);
      assertEquals(new URL(page.url()).pathname, "/login");
      await page.waitForSelector("#login-button:not([disabled])");
      assertEquals(await page.textContent("#scope"), `Log in to app ${WEBAPP}`);
      await page.fill("#password", PASSWORD);
      await Promise.all([
        page.waitForURL(`${subOrigin}/${WEBAPP}/secure`, { timeout: 15_000 }),
        page.click("#login-button"),
      ]);
      assertEquals(await page.textContent("body"), "secure hello");
      await shot(page, "04-secure-subdomain");
      const scoped = (await context.cookies(subOrigin)).find((c) =>
        c.name === `hyperware-auth_${NODE_NAME}@${WEBAPP}`
      );
      assert(scoped, "app-scoped cookie");
      assertEquals([scoped.httpOnly, scoped.sameSite], [true, "Strict"]);
    } finally {
      await browser.close();
      await n.stop();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "browser: first boot sets the password in the page, then the node serves on that port",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "hyperdeno-browser-" });
    const browser = await launch();
    let node: Awaited<ReturnType<typeof bootNode>> | undefined;
    try {
      const prompt = await promptPasswordInBrowser({
        home,
        our: NODE_NAME,
        port: 0,
        hostname: "127.0.0.1",
      });
      const page = await browser.newPage();
      await page.goto(`http://localhost:${prompt.port}/`);
      assertEquals(await page.textContent("#title"), `Set a password for ${NODE_NAME}`);
      await page.fill("#password", "first-boot-pw");
      await page.fill("#confirm", "different");
      await page.click("#submit");
      assertEquals(await page.textContent("#err"), "Passwords do not match");
      await page.fill("#confirm", "first-boot-pw");
      await page.click("#submit");
      await page.waitForSelector("#done", { state: "visible", timeout: 15_000 });
      await shot(page, "05-first-boot-password");
      const loaded = await prompt.done;
      assert(loaded.created);
      // the boot continues with the keyfile, on the same port
      const http = createHttpServer({
        port: prompt.port,
        hostname: "127.0.0.1",
        jwtSecret: loaded.keyfile.jwtSecret,
        encodedKeyfile: loaded.encoded,
      });
      node = await bootNode({
        home,
        name: NODE_NAME,
        onPrint: () => {},
        keyfile: loaded,
        modules: [http, createHttpClient()],
      });
      // the waiting page notices the node is up and reloads
      await page.waitForURL(`http://localhost:${prompt.port}/`, { timeout: 15_000 });
      await page.waitForFunction('!document.getElementById("done")', undefined, {
        timeout: 15_000,
      });
      await page.goto(`http://localhost:${prompt.port}/our`);
      assertEquals(await page.textContent("body"), NODE_NAME);
    } finally {
      await browser.close();
      await node?.shutdown();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
