// homepage:homepage:sys on a real node: apps (fixtures/tileapp.js) add themselves
// at init as process_lib's add_to_homepage does; GetApps and /apps list them in
// Hyperdrive's JSON; Remove, RemoveOther and SetStylesheet with and without
// homepage's capabilities; favourites and order survive a restart; malformed
// requests are refused clearly while the homepage keeps serving.

import { assert, assertEquals } from "../assert.ts";
import { type App, appId, bootHomeNode, HOMEPAGE, NODE_NAME, withHomeNode } from "./helpers.ts";

const dec = new TextDecoder();

function byId(apps: App[], name: string): App | undefined {
  return apps.find((a) => a.id === appId(name));
}

Deno.test({
  name: "homepage: apps add themselves; GetApps and /apps list them as Hyperdrive does",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHomeNode(async (n) => {
      // the homepage and its public files are up before any app
      assertEquals(await n.getApps(), []);
      for (const name of ["notes", "weather", "files", "clock"]) await n.installApp(name);
      const apps = await n.getApps();
      // id order (Hyperdrive keeps a BTreeMap), every field as serde names it
      assertEquals(apps.map((a) => a.id), [
        "clock:clock:test.os",
        "files:files:test.os",
        "notes:notes:test.os",
        "weather:weather:test.os",
      ]);
      const notes = byId(apps, "notes")!;
      assertEquals(Object.keys(notes).sort(), [
        "base64_icon",
        "favorite",
        "id",
        "label",
        "order",
        "package_name",
        "path",
        "process",
        "publisher",
        "widget",
      ]);
      assertEquals(notes.process, "notes");
      assertEquals(notes.package_name, "notes");
      assertEquals(notes.publisher, "test.os");
      assertEquals(notes.label, "Notes");
      assertEquals(notes.path, "/notes:notes:test.os/"); // "/" under the app's prefix
      assert(notes.base64_icon?.startsWith("data:image/svg+xml;base64,"), notes.base64_icon!);
      assertEquals(notes.widget, null);
      assertEquals(notes.favorite, false);
      assertEquals(byId(apps, "files")!.path, "/files:files:test.os/"); // "" too
      const clock = byId(apps, "clock")!;
      assertEquals([clock.path, clock.base64_icon, clock.widget], [null, null, "<p>tick</p>"]);
      assert(byId(apps, "weather")!.widget!.includes("Sunny in Lisbon"));
      // each new app is placed after those already there
      assertEquals(
        ["notes", "weather", "files", "clock"].map((a) => byId(apps, a)!.order),
        [0, 1, 2, 3],
      );

      // /apps: the same list, logged in only
      const res = await n.get("/apps");
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), "application/json");
      assertEquals(await res.json(), apps);
      const anon = await n.get("/apps", { cookie: false });
      assertEquals(anon.status, 401);
      await anon.body?.cancel();

      // the root: the login page first, then the home screen
      const login = await n.get("/", { cookie: false, headers: { accept: "text/html" } });
      assertEquals(login.status, 302);
      assertEquals(login.headers.get("location"), "/login?redirect=%2F");
      const page = await n.get("/");
      assertEquals(page.status, 200);
      assert(page.headers.get("content-type")!.startsWith("text/html"));
      const html = await page.text();
      for (const ref of ["/assets/home.js", "/assets/home.css", "/hyperware.css", "/our.js"]) {
        assert(html.includes(ref), ref);
      }
      for (const asset of ["/assets/home.js", "/assets/home.css"]) {
        const r = await n.get(asset);
        assertEquals(r.status, 200, asset);
        await r.body?.cancel();
      }

      // public: the stylesheet (apps on subdomains), PWA manifest, icons, /our, /amionline
      const publicPaths: [string, string][] = [
        ["/hyperware.css", "text/css"],
        ["/manifest.json", "application/json"],
        ["/icon.svg", "image/svg+xml"],
        ["/icon-180.png", "image/png"],
        ["/hyperware.svg", "image/svg+xml"],
        ["/our", "text/html"],
        ["/our.js", "application/javascript"],
        ["/amionline", "text/html"],
      ];
      for (const [path, type] of publicPaths) {
        const r = await n.get(path, { cookie: false });
        assertEquals(r.status, 200, path);
        assert(
          r.headers.get("content-type")!.startsWith(type),
          `${path}: ${r.headers.get("content-type")}`,
        );
        const body = await r.text();
        if (path === "/our") assertEquals(body, NODE_NAME);
        if (path === "/amionline") assertEquals(body, "yes");
        if (path === "/our.js") {
          assertEquals(body, `window.our = {}; window.our.node = '${NODE_NAME}';`);
        }
      }
      const manifest = await (await n.get("/manifest.json", { cookie: false })).json();
      assertEquals([manifest.start_url, manifest.display], ["/", "standalone"]);

      const version = await n.get("/version");
      assertEquals([version.status, await version.text()], [200, "0.1.0"]);

      // GetPushSubscription: subscriptions belong to notifications, as in Hyperdrive
      const push = await n.node.request(`our@${HOMEPAGE}`, '"GetPushSubscription"');
      assertEquals(JSON.parse(dec.decode(push.body)), { PushSubscription: null });
      // GetApps sent by an app is answered to the app
      const viaApp = await n.viaApp("notes", { send: "GetApps", await: true });
      assertEquals(JSON.parse(viaApp.answer as string), { GetApps: apps });

      // an Add without the optional fields, as serde reads Option: all None
      await n.viaApp("notes", { send: { Add: { label: "Notes 2" } } });
      const re = await n.appsWhen((a) => byId(a, "notes")?.label === "Notes 2", "relabelled notes");
      assertEquals(
        [byId(re, "notes")!.path, byId(re, "notes")!.base64_icon, byId(re, "notes")!.order],
        [null, null, 0], // re-adding keeps the app's place
      );
    });
  },
});

Deno.test({
  name: "homepage: Remove, RemoveOther and SetStylesheet, with and without the caps",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHomeNode(async (n) => {
      await n.installApp("notes");
      await n.installApp("weather");
      // homepage is not public: an app without the messaging cap cannot add itself
      await n.installApp("stranger", { messaging: false });
      await new Promise((r) => setTimeout(r, 200));
      assertEquals(byId(await n.getApps(), "stranger"), undefined);
      assert(
        n.prints.some((p) =>
          p.includes("stranger:stranger:test.os doesn't have capability to message process")
        ),
        n.prints.join("\n"),
      );

      // RemoveOther without homepage's RemoveOther cap: refused, even if the app attaches it
      for (const cap of [null, "RemoveOther"]) {
        const r = await n.viaApp("notes", {
          send: { RemoveOther: appId("weather") },
          cap,
          await: true,
        });
        assertEquals(JSON.parse(r.answer as string), {
          Err: "RemoveOther needs homepage's RemoveOther capability",
        });
      }
      await n.viaApp("notes", { send: { RemoveOther: appId("weather") }, cap: "RemoveOther" });
      assert(byId(await n.getApps(), "weather"), "weather stays");

      // with the cap (requested in its manifest, as app-store does) and attached: removed
      await n.installApp("remover", { homepageCaps: ["RemoveOther"] });
      const forgot = await n.viaApp("remover", {
        send: { RemoveOther: appId("weather") },
        await: true,
      });
      assert((forgot.answer as string).includes("RemoveOther capability"), "cap not attached");
      // as Hyperdrive: no response, even when one is awaited; the caller times out
      await n.viaApp("remover", { send: { RemoveOther: appId("weather") }, cap: "RemoveOther" });
      await n.appsWhen((a) => !byId(a, "weather"), "weather removed");

      // Remove: the source removes itself; it can add itself again
      await n.viaApp("notes", { send: "Remove" });
      await n.appsWhen((a) => !byId(a, "notes"), "notes removed");
      await n.viaApp("notes", { add: true });
      await n.appsWhen((a) => !!byId(a, "notes"), "notes back");

      // SetStylesheet: only with homepage's SetStylesheet cap
      const before = await (await n.get("/hyperware.css", { cookie: false })).text();
      assert(before.includes("--hw-accent"), "the package's stylesheet");
      const css = "body { background: rebeccapurple; }";
      const refused = await n.viaApp("notes", {
        send: { SetStylesheet: css },
        cap: "SetStylesheet",
        await: true,
      });
      assertEquals(JSON.parse(refused.answer as string), {
        Err: "SetStylesheet needs homepage's SetStylesheet capability",
      });
      assertEquals(await (await n.get("/hyperware.css", { cookie: false })).text(), before);
      await n.installApp("styler", { homepageCaps: ["SetStylesheet"] });
      await n.viaApp("styler", { send: { SetStylesheet: css }, cap: "SetStylesheet" });
      const end = Date.now() + 5000;
      let now = "";
      while (Date.now() < end) {
        now = await (await n.get("/hyperware.css", { cookie: false })).text();
        if (now === css) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      assertEquals(now, css);
      // a RemoveOther cap is not a SetStylesheet cap
      await n.installApp("remover2", { homepageCaps: ["RemoveOther"] });
      const wrong = await n.viaApp("remover2", {
        send: { SetStylesheet: "x" },
        cap: "RemoveOther",
        await: true,
      });
      assert((wrong.answer as string).includes("SetStylesheet capability"));
      assertEquals(await (await n.get("/hyperware.css", { cookie: false })).text(), css);
    });
  },
});

Deno.test({
  name: "homepage: malformed requests are refused with reasons; the homepage keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withHomeNode(async (n) => {
      await n.installApp("notes");
      const cases: [string, string][] = [
        ["not json", "malformed request: body is not JSON"],
        ["[1, 2]", 'malformed request: expected a variant: "Name" or {"Name": value}'],
        [
          '{"Add": 1, "Remove": null}',
          'malformed request: expected a variant: "Name" or {"Name": value}',
        ],
        [
          '"Bogus"',
          'malformed request: unknown request "Bogus": expected Add, Remove, RemoveOther, SetStylesheet, GetApps or GetPushSubscription',
        ],
        ['{"Add": {}}', "malformed request: Add.label must be a string"],
        ['{"Add": {"label": 5}}', "malformed request: Add.label must be a string"],
        [
          '{"Add": {"label": "x", "icon": 7}}',
          "malformed request: Add.icon must be a string or null",
        ],
        ['{"Add": "x"}', "malformed request: Add takes {label, icon, path, widget}"],
        ['"RemoveOther"', "malformed request: RemoveOther takes a string"],
        ['{"SetStylesheet": {"css": 1}}', "malformed request: SetStylesheet takes a string"],
        ['{"GetApps": 1}', "malformed request: GetApps takes no value"],
      ];
      for (const [raw, why] of cases) {
        const r = await n.viaApp("notes", { raw, await: true });
        assertEquals(JSON.parse(r.answer as string), { Err: why }, raw);
        // without a response expected: dropped, nothing sent back
        await n.viaApp("notes", { raw });
      }
      // root-sent garbage too
      const res = await n.node.request(`our@${HOMEPAGE}`, new Uint8Array([0xff, 0, 1]));
      assertEquals(JSON.parse(dec.decode(res.body)), {
        Err: "malformed request: body is not JSON",
      });

      // bad HTTP bodies
      const bad: [string, string | undefined, number][] = [
        ["/favorite", undefined, 405],
        ["/favorite", "nope", 400],
        ["/favorite", '["notes:notes:test.os"]', 400],
        ["/favorite", '["notes:notes:test.os", "yes"]', 400],
        ["/order", "{}", 400],
        ["/order", '[["notes:notes:test.os", -1]]', 400],
        ["/order", "", 400],
      ];
      for (const [path, body, status] of bad) {
        const r = body === undefined ? await n.get(path) : await n.post(path, body);
        assertEquals(r.status, status, `${path} ${body}`);
        await r.body?.cancel();
      }
      const unknown = await n.get("/no-such-homepage-path");
      assertEquals(unknown.status, 404);
      await unknown.body?.cancel();

      // still serving, still the same app
      const apps = await n.getApps();
      assertEquals(apps.map((a) => [a.id, a.label]), [[appId("notes"), "Notes"]]);
      assertEquals((await n.get("/apps")).status, 200);
      assert(!n.prints.some((p) => p.includes("homepage:homepage:sys") && p.includes("exited")));
    });
  },
});

Deno.test({
  name: "homepage: favourites, order and the stylesheet persist across a node restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "hyperdeno-homepage-" });
    try {
      let n = await bootHomeNode(home);
      try {
        for (const name of ["notes", "weather", "files"]) await n.installApp(name);
        await n.installApp("styler", { homepageCaps: ["SetStylesheet"] });
        const fav = await n.post("/favorite", [appId("weather"), true]);
        assertEquals(fav.status, 200);
        await fav.body?.cancel();
        const order = [appId("files"), appId("styler"), appId("weather"), appId("notes")];
        const ord = await n.post("/order", order.map((id, i) => [id, i]));
        assertEquals(ord.status, 200);
        await ord.body?.cancel();
        const apps = await (await n.get("/apps")).json() as App[];
        assertEquals(byId(apps, "weather")!.favorite, true);
        assertEquals(order.map((id) => apps.find((a) => a.id === id)!.order), [0, 1, 2, 3]);
        await n.viaApp("styler", {
          send: { SetStylesheet: "p { color: teal }" },
          cap: "SetStylesheet",
        });
        // a removed app forgets its place: back, it goes last
        await n.viaApp("styler", { send: "Remove" });
        await n.appsWhen((a) => !byId(a, "styler"), "styler removed");
        await n.viaApp("styler", { add: true });
        const back = await n.appsWhen((a) => !!byId(a, "styler"), "styler back");
        assertEquals(byId(back, "styler")!.order, 3);
      } finally {
        await n.stop();
      }

      n = await bootHomeNode(home);
      try {
        // the apps restart and add themselves again; their places and stars are kept
        const apps = await n.appsWhen((a) => a.length === 4, "four apps again", 20_000);
        assertEquals(byId(apps, "weather")!.favorite, true);
        assertEquals(byId(apps, "notes")!.favorite, false);
        assertEquals(
          ["files", "weather", "notes"].map((a) => byId(apps, a)!.order),
          [0, 2, 3],
        );
        const http = await (await n.get("/apps")).json() as App[];
        assertEquals(byId(http, "weather")!.favorite, true);
        assertEquals(
          await (await n.get("/hyperware.css", { cookie: false })).text(),
          "p { color: teal }",
        );
        // unfavourite persists too
        const unfav = await n.post("/favorite", [appId("weather"), false]);
        await unfav.body?.cancel();
      } finally {
        await n.stop();
      }

      n = await bootHomeNode(home);
      try {
        const apps = await n.appsWhen((a) => a.length === 4, "four apps again", 20_000);
        assertEquals(byId(apps, "weather")!.favorite, false);
      } finally {
        await n.stop();
      }
    } finally {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
