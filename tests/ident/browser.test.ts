// An existing node booted from the browser (headless Chromium, playwright-core): the real CLI on
// a new home serves the boot page; the keyfile is uploaded through Hyperdrive's /import-keyfile
// with its node name and password. A keyfile the chain does not back is refused on the page
// (Hyperdrive's message) and nothing is written; a wrong password is refused; the right one
// boots the node, the page lands on it logged in, and another node reaches it through
// hns-indexer. Screenshots go to tests/ident/artifacts/.

import { type Browser, chromium, type Page } from "playwright-core";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { KEYFILE_NAME } from "../../modules/keyfile/mod.ts";
import { bootFakeNode, type FakeNode, hello } from "../hns/helpers.ts";
import {
  eventually,
  freePort,
  line,
  makeKeyfile,
  mintDirect,
  PASSWORD,
  rpcHello,
  snapshot,
  withChain,
  withTempDir,
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

/** The CLI without --password or --detached (its boot page), stdin closed; output as it comes. */
function spawnPageCli(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) add(t);
  };
  const done = Promise.all([
    pump(child.stdout, (t) => out += t),
    pump(child.stderr, (t) => err += t),
  ]);
  let exited = false;
  const status = child.status.finally(() => exited = true);
  return {
    stdout: () => out,
    async waitFor(re: RegExp, ms = 90_000) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (exited) throw new Error(`exited before ${re}: ${out}\n${err}`);
        if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms: ${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => !exited && child.kill("SIGKILL"), 20_000);
      const { code } = await status;
      clearTimeout(timer);
      await done;
      return { code, stdout: out, stderr: err };
    },
  };
}

async function upload(page: Page, file: string, bytes: Uint8Array, name: string, pw: string) {
  // a file on disk, as a user picks one
  await Deno.writeFile(file, bytes);
  await page.setInputFiles("#keyfile", file);
  // the page reads the name out of the keyfile
  await page.waitForFunction(
    `document.getElementById("import-name").value === ${JSON.stringify(name)}`,
  );
  await page.fill("#import-password", pw);
  await page.click("#import-submit");
}

Deno.test({
  name: "browser: an existing node's keyfile uploaded on the boot page (/import-keyfile) boots it",
  ignore: !hasChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withChain((chain) =>
      withTempDir(async (dir) => {
        const kf = await makeKeyfile("frank.os");
        const wsPort = freePort();
        await mintDirect(chain.url, "frank.os", kf.publicKey, { ws: wsPort });
        // grace.os is on chain with another key than her keyfile's
        const grace = await makeKeyfile("grace.os");
        await mintDirect(chain.url, "grace.os", (await makeKeyfile("grace.os")).publicKey, {
          ws: freePort(),
        });
        const home = `${dir}/f`;
        await Deno.mkdir(home);
        const cli = spawnPageCli([
          home,
          "--fakechain-port",
          `${chain.port}`,
          "--port",
          "0",
          "--expose-local",
        ]);
        const browser = await launch();
        let other: FakeNode | undefined;
        try {
          await cli.waitFor(/to import the keyfile of this node\n/);
          const url = /open (http:\S+) to/.exec(cli.stdout())![1];
          const page = await browser.newPage();
          await page.goto(url);
          await page.waitForSelector("#import-form", { state: "visible" });
          await shot(page, "01-import-page");

          await upload(page, `${dir}/grace.keys`, grace.bytes, "grace.os", PASSWORD);
          await page.waitForFunction(
            '/PKI/.test(document.getElementById("import-err").textContent)',
            undefined,
            { timeout: 30_000 },
          );
          assertMatch(
            (await page.textContent("#import-err"))!,
            /^Networking key from PKI \(0x[0-9a-f]{64}\) does not match our saved networking key \(0x[0-9a-f]{64}\)$/,
          );
          await shot(page, "02-chain-disagrees");
          assertEquals(await snapshot(home), {}, "a refused keyfile is not kept");

          await page.fill("#import-name", "");
          await upload(page, `${dir}/frank.keys`, kf.bytes, "frank.os", "not the password");
          await page.waitForFunction(
            'document.getElementById("import-err").textContent === "Incorrect password!"',
            undefined,
            { timeout: 30_000 },
          );
          await shot(page, "03-wrong-password");
          assertEquals(await snapshot(home), {});

          await page.fill("#import-password", PASSWORD);
          await page.click("#import-submit");
          // decrypting the keyfile and checking it against the chain: ~5 s alone, ~30 s once
          // under the whole suite on two vCPUs
          await page.waitForSelector("#done", { state: "visible", timeout: 90_000 });
          // the page notices the node is up and goes to it, logged in by the page's cookie
          await cli.waitFor(/\nhttp: \S+\n/);
          await page.waitForFunction('!document.getElementById("done")', undefined, {
            timeout: 60_000,
          });
          await page.waitForLoadState("load");
          assertEquals(new URL(page.url()).pathname, "/", "not sent to /login: logged in");
          await shot(page, "04-node-home");
          const cookies = await page.context().cookies();
          assert(
            cookies.some((c) => c.name === "hyperware-auth_frank.os"),
            JSON.stringify(cookies),
          );

          const id = JSON.parse(line(cli.stdout(), "identity:"));
          assertEquals([id.name, id.public_key, id.ips, id.ports], [
            "frank.os",
            kf.publicKeyHex,
            ["127.0.0.1"],
            { ws: wsPort },
          ]);
          assertEquals(await Deno.readFile(`${home}/${KEYFILE_NAME}`), kf.bytes);
          assertEquals(await Deno.readTextFile(`${home}/.onchain`), "frank.os\n");

          // another node finds it on chain, and it finds the other
          other = await bootFakeNode(`${dir}/o`, "oscar.os", chain.port, {
            distro: ["hns-indexer", "hello"],
          });
          assertEquals(
            await eventually(() => hello(other!.node, "frank.os"), 60_000),
            "hello, oscar.os! you said: hi from oscar.os",
          );
          assertEquals(
            await eventually(() => rpcHello(line(cli.stdout(), "http:"), "oscar.os", "hi"), 60_000),
            "hello, frank.os! you said: hi",
          );
        } finally {
          await browser.close();
          await other?.node.shutdown();
          const { code } = await cli.stop();
          assertEquals(code, 0);
        }
      })
    ),
});
