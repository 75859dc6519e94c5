// Issue #14: the homepage's first paint after login, in headless Chromium, against a static
// Deno.serve page of the same bytes, measured interleaved in one run.
//
//   ./node_modules/deno/deno run -A benches/homepage_paint.ts [--runs 7]
//
// A node boots with the distro (tests/homepage/helpers.ts' bootHomeNode: a password keyfile,
// http-server on a free port); Chromium (playwright-core, /usr/bin/chromium) logs in through
// the login page once. One navigation to "/" is then recorded: every same-origin response it
// fetched (the HTML, /our.js, the stylesheets, the script, the icons, /apps' JSON) is saved as
// a static file, and a plain Deno.serve on another port serves those files from memory with
// the same content types. Then `--runs` navigations to each origin, interleaved (the order
// alternating), each a fresh page of the logged-in context with the HTTP cache disabled (the
// first paint after login, as a person gets it), read the paint and navigation timing:
//
//   responseEnd              the HTML's last byte
//   domContentLoaded         DOMContentLoaded's end (blocking scripts run)
//   first-contentful-paint   performance.getEntriesByName("first-contentful-paint")
//   load                     the load event's end (stylesheets, scripts, images)
//   apps shown               body[data-state=ready]: /apps fetched and the tiles rendered
//
// all in ms since the navigation started, medians of the runs, and the ratio node / static.
// With --resources, the median duration of each subresource on both sides.

import { type BrowserContext, chromium, type Page } from "playwright-core";
import { bootHomeNode, PASSWORD } from "../tests/homepage/helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const METRICS = ["responseEnd", "domContentLoaded", "fcp", "load", "ready"] as const;
type Metric = typeof METRICS[number];
const LABEL: Record<Metric, string> = {
  responseEnd: "responseEnd (HTML)",
  domContentLoaded: "domContentLoaded",
  fcp: "first-contentful-paint",
  load: "load",
  ready: "apps shown (data-state=ready)",
};

interface Sample {
  metrics: Record<Metric, number>;
  resources: Record<string, number>;
  requests: number;
}

/** Marks when home.js says the apps are shown (both origins run the same script). */
const READY_PROBE = `
  new MutationObserver((_, obs) => {
    if (document.body && document.body.dataset.state === "ready") {
      window.__ready = performance.now();
      obs.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
`;

interface Saved {
  body: Uint8Array;
  type: string;
}

/** One navigation to `origin/` with every same-origin response saved, keyed by path. */
async function record(context: BrowserContext, origin: string): Promise<Map<string, Saved>> {
  const page = await context.newPage();
  const files = new Map<string, Saved>();
  const pending: Promise<void>[] = [];
  page.on("response", (res) => {
    const url = new URL(res.url());
    if (url.origin !== origin || res.request().method() !== "GET") return;
    pending.push((async () => {
      const body = await res.body().catch(() => undefined);
      if (!body || res.status() !== 200) return;
      files.set(url.pathname, {
        body: new Uint8Array(body),
        type: res.headers()["content-type"] ?? "application/octet-stream",
      });
    })());
  });
  await page.goto(`${origin}/`, { waitUntil: "networkidle" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 15_000 });
  await Promise.all(pending);
  await page.close();
  return files;
}

/** Writes the saved files under `dir` (as a static site) and serves them from memory. */
async function serveStatic(files: Map<string, Saved>, dir: string) {
  const types: Record<string, string> = {};
  for (const [path, f] of files) {
    const file = `${dir}${path === "/" ? "/index.html" : path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(file, f.body);
    types[path] = f.type;
  }
  await Deno.writeTextFile(`${dir}/.types.json`, JSON.stringify(types, null, 2));
  // read back what was written: the baseline serves the saved files
  const site = new Map<string, Saved>();
  for (const [path, type] of Object.entries(types)) {
    site.set(path, {
      body: await Deno.readFile(`${dir}${path === "/" ? "/index.html" : path}`),
      type,
    });
  }
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const f = site.get(new URL(req.url).pathname);
    if (!f) return new Response("not found", { status: 404 });
    return new Response(f.body as Uint8Array<ArrayBuffer>, { headers: { "content-type": f.type } });
  });
}

async function measure(context: BrowserContext, origin: string): Promise<Sample> {
  const page: Page = await context.newPage();
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await page.addInitScript(READY_PROBE);
    await page.goto(`${origin}/`, { waitUntil: "load" });
    await page.waitForFunction(
      `window.__ready !== undefined &&
        performance.getEntriesByName("first-contentful-paint").length > 0`,
      undefined,
      { timeout: 15_000 },
    );
    const got = await page.evaluate(`(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      const resources = {};
      for (const r of performance.getEntriesByType("resource")) {
        resources[new URL(r.name).pathname] = r.responseEnd - r.startTime;
      }
      return {
        metrics: {
          responseEnd: nav.responseEnd,
          domContentLoaded: nav.domContentLoadedEventEnd,
          fcp: fcp.startTime,
          load: nav.loadEventEnd,
          ready: window.__ready,
        },
        resources,
        requests: performance.getEntriesByType("resource").length + 1,
      };
    })()`) as Sample;
    if (new URL(page.url()).pathname !== "/") {
      throw new Error(`the page went to ${page.url()} (not logged in?)`);
    }
    return got;
  } finally {
    await page.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

if (import.meta.main) {
  const at = Deno.args.indexOf("--runs");
  const runs = at >= 0 ? Number(Deno.args[at + 1]) : 7;
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs: expected a positive integer");
  const showResources = Deno.args.includes("--resources");
  const tmp = await Deno.makeTempDir({ prefix: "hyperdeno-bench-home-" });
  const n = await bootHomeNode(`${tmp}/home`, { distro: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  try {
    // the distro's apps add their tiles as they start: wait until the list holds still
    let last = -1;
    for (let still = 0, end = Date.now() + 60_000; still < 8 && Date.now() < end;) {
      const count = (await n.getApps()).length;
      still = count === last ? still + 1 : 0;
      last = count;
      await new Promise((r) => setTimeout(r, 250));
    }
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(15_000);
    const origin = n.base;
    // log in as a person does: "/" sends to the login page, the password, back to "/"
    const login = await context.newPage();
    await login.goto(`${origin}/`);
    await login.waitForSelector("#login-button:not([disabled])");
    await login.fill("#password", PASSWORD);
    await Promise.all([login.waitForURL(`${origin}/`), login.click("#login-button")]);
    await login.waitForSelector("body[data-state=ready]");
    await login.close();

    const files = await record(context, origin);
    server = await serveStatic(files, `${tmp}/static`);
    const base = `http://localhost:${server.addr.port}`;
    const bytes = [...files.values()].reduce((t, f) => t + f.body.length, 0);
    console.error(
      `${last} apps on the node; saved ${files.size} files (${bytes} bytes): ` +
        [...files.keys()].join(" "),
    );

    // one warm-up each (Chromium's first navigations compile its own code), not counted
    await measure(context, origin);
    await measure(context, base);
    const node: Sample[] = [];
    const flat: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const pair = i % 2 === 0 ? [origin, base] : [base, origin];
      for (const o of pair) (o === origin ? node : flat).push(await measure(context, o));
      console.error(`run ${i + 1} of ${runs}`);
    }

    const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
    console.log(
      `homepage first paint after login, ${runs} interleaved runs each, load ${load}, ` +
        `${node[0].requests} requests per page (node) / ${flat[0].requests} (static)`,
    );
    console.log(
      "| ms since navigation start (median) | homepage (node) | static Deno.serve | ratio |",
    );
    console.log("| --- | ---: | ---: | ---: |");
    for (const m of METRICS) {
      const a = median(node.map((s) => s.metrics[m]));
      const b = median(flat.map((s) => s.metrics[m]));
      console.log(`| ${LABEL[m]} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)}x |`);
    }
    if (showResources) {
      console.log("\n| subresource, ms (median) | node | static |");
      console.log("| --- | ---: | ---: |");
      const names = new Set(node.flatMap((s) => Object.keys(s.resources)));
      for (const r of names) {
        const a = median(node.map((s) => s.resources[r] ?? NaN));
        const b = median(flat.map((s) => s.resources[r] ?? NaN));
        console.log(`| ${r} | ${a.toFixed(1)} | ${b.toFixed(1)} |`);
      }
    }
  } finally {
    await browser.close();
    await server?.shutdown();
    await n.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
