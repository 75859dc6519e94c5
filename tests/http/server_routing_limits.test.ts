// Hostile bindings: one process's paths must never break routing for the rest of
// the node. A path past the bind limit is refused at bind time (MalformedRequest,
// Hyperdrive's variant for a path it cannot take); odd but valid paths bind and
// route; wildcard-heavy patterns cost time linear in the request, not exponential.

import { assert, assertEquals } from "../assert.ts";
import { DEFAULT_LIMITS } from "../../modules/http_server/mod.ts";
import { act, echoProcess, expectStatus, serverTest, type Setup } from "./server_helpers.ts";

const bind = (path: string) => ({
  Bind: { path, authenticated: false, local_only: false, cache: false },
});

/** What a request gets from the node while the hostile bindings are in place. */
async function nodeStillRoutes(s: Setup) {
  const our = await fetch(`${s.base}/our`);
  assertEquals(our.status, 200);
  assertEquals(await our.text(), "fake.dev");
  await expectStatus(fetch(`${s.base}/nothing:here:at/all`), 404);
  await expectStatus(fetch(`${s.base}/good:pkg:pub/items/42`), 200);
  await expectStatus(fetch(`${s.base}/good:pkg:pub/files/a/b/c.txt`), 200);
  await expectStatus(fetch(`${s.base}/good:pkg:pub/static`), 200);
}

async function bindGood(s: Setup) {
  const good = echoProcess(s, "good:pkg:pub");
  for (const p of ["/items/:id", "/files/*rest", "/static"]) {
    assertEquals(await act(s, good, bind(p)), { Ok: null }, p);
  }
}

serverTest(
  "http-server: a bound path past the limit is refused; routing is unharmed",
  async (s) => {
    await bindGood(s);
    const evil = echoProcess(s, "evil:pkg:pub");
    const limit = DEFAULT_LIMITS.maxBoundPathLength;
    const prefix = "/evil:pkg:pub".length;
    const huge = "/" + "a".repeat(64 * 1024);
    const hugeParam = "/:" + "p".repeat(64 * 1024);
    const results = [];
    for (
      const action of [
        bind(huge),
        bind(hugeParam),
        { SecureBind: { path: huge, cache: false } },
        { WebSocketBind: { path: huge, authenticated: false, extension: false } },
        { WebSocketSecureBind: { path: huge, extension: false } },
        // an Unbind keeps the route (without an app), so it is held to the same limit
        { Unbind: { path: huge } },
        { WebSocketUnbind: { path: huge } },
        bind("/" + "b".repeat(limit - prefix)),
      ]
    ) {
      results.push(await act(s, evil, action));
    }
    // first what the rest of the node sees, then the answers
    await nodeStillRoutes(s);
    for (const r of results) assertEquals(r, { Err: "MalformedRequest" });
    // exactly at the limit is fine
    const atLimit = "/" + "c".repeat(limit - prefix - 1);
    assertEquals(await act(s, evil, bind(atLimit)), { Ok: null });
    await expectStatus(fetch(`${s.base}/evil:pkg:pub${atLimit}`), 200);
    await nodeStillRoutes(s);
  },
);

serverTest(
  "http-server: many odd but valid bindings; every other route still answers",
  async (s) => {
    await bindGood(s);
    const odd = echoProcess(s, "odd:pkg:pub");
    const paths = [
      "/:a.:b.:c.:d",
      "/*a/*b/*c/*d/*e/x",
      "/:x/*y.:z",
      "/re/a+b(c)[d]*$|?",
      "/\u00e9t\u00e9/\u{1f600}/:emoji",
      "/:",
      "/*",
      "/..hidden/.dot",
      "/a..b/:c..:d",
      "/.",
      "//double//slash",
      "/" + "seg/".repeat(200) + ":last",
      "/" + ":p/".repeat(200) + "end",
      "/" + "*w/".repeat(100) + "end",
      "/" + ":d.".repeat(300) + "x",
    ];
    for (const p of paths) {
      const r = await act(s, odd, bind(p));
      // dot segments are refused as before; everything else binds
      if (p === "/.") assertEquals(r, { Err: "MalformedRequest" }, p);
      else assertEquals(r, { Ok: null }, p);
    }
    await nodeStillRoutes(s);
    // the odd routes route too
    const got = async (path: string) => {
      const r = await fetch(`${s.base}${path}`);
      assertEquals(r.status, 200, path);
      return (await r.json()).request as { bound_path: string; url_params: Record<string, string> };
    };
    // greedy, as route-recognizer's captures: the first parameter takes what the rest leave
    assertEquals(
      (await got("/odd:pkg:pub/1.2.3.4.5")).url_params,
      { a: "1.2", b: "3", c: "4", d: "5" },
    );
    assertEquals((await got("/odd:pkg:pub/p.q.r.s")).url_params, {
      a: "p",
      b: "q",
      c: "r",
      d: "s",
    });
    assertEquals(
      (await got("/odd:pkg:pub/1/2/3/4/5/6/x")).url_params,
      { a: "1/2", b: "3", c: "4", d: "5", e: "6" },
    );
    // static text is literal (no regex meaning); '?' cannot be in a request's path, so a
    // request can only reach that binding through another one
    assertEquals((await got("/odd:pkg:pub/re/a+b(c)[d]*$|%3F")).bound_path, "/odd:pkg:pub/*");
    assertEquals((await got("/odd:pkg:pub/re/aab(c)[d]*$|?")).bound_path, "/odd:pkg:pub/*");
  },
);

serverTest("http-server: wildcard-heavy bindings cost linear time, not exponential", async (s) => {
  await bindGood(s);
  const evil = echoProcess(s, "evil:pkg:pub");
  // a backtracking regex would try every split of the path among the wildcards
  assertEquals(await act(s, evil, bind("/*a/*b/*c/*d/*e/*f/*g/*h/x")), { Ok: null });
  assertEquals(await act(s, evil, bind("/:a.:b.:c.:d.:e.:f.:g.:h.x")), { Ok: null });
  const started = performance.now();
  await expectStatus(fetch(`${s.base}/evil:pkg:pub/${"b/".repeat(2000)}y`), 404);
  await expectStatus(fetch(`${s.base}/evil:pkg:pub/${"b.".repeat(2000)}y`), 404);
  const ms = performance.now() - started;
  // generous: the point is minutes (or never) against milliseconds
  assert(ms < 5000, `two hostile requests took ${ms.toFixed(0)} ms`);
  // a path so long that trying it against the routes it could reach would cost too much
  const many = "/" + "*w/".repeat(600) + "end";
  assertEquals(await act(s, evil, bind(many)), { Ok: null });
  const tooLong = await fetch(`${s.base}/evil:pkg:pub/${"b/".repeat(20_000)}y`);
  assertEquals(tooLong.status, 414);
  assertEquals(await tooLong.json(), "path too long to route");
  await nodeStillRoutes(s);
});
