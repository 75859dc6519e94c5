// http-server bindings over real HTTP: forwarding to the bound process,
// route patterns, static (cache) bindings, action results, and unbinding.

import { assert, assertEquals } from "../assert.ts";
import { textEncoder } from "../../wire/core.ts";
import type { KernelMessage } from "../../wire/core.ts";
import { act, bindOpenRoot, echoProcess, expectStatus, OUR, serverTest } from "./server_helpers.ts";
import { bodyJson, Inbox } from "./harness.ts";

serverTest(
  "http-server: a bound path forwards IncomingHttpRequest and returns the HttpResponse",
  async (s) => {
    const seen: KernelMessage[] = [];
    const app = echoProcess(s, "app:pkg:pub", seen);
    assertEquals(
      await act(s, app, {
        Bind: { path: "/api", authenticated: false, local_only: false, cache: false },
      }),
      { Ok: null },
    );
    const res = await fetch(`${s.base}/app:pkg:pub/api?x=1&y=two`, {
      method: "POST",
      headers: { "X-Custom": "hello" },
      body: "payload bytes",
    });
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("x-app"), "app:pkg:pub");
    const out = await res.json();
    assertEquals(out.body, "payload bytes");
    assertEquals(out.expects, "15");
    const r = out.request;
    assertEquals(r.method, "POST");
    assertEquals(r.url, `http://127.0.0.1/app:pkg:pub/api`);
    assertEquals(r.bound_path, "/app:pkg:pub/api");
    assertEquals(r.headers["x-custom"], "hello");
    assertEquals(r.query_params, { x: "1", y: "two" });
    assertEquals(r.url_params, {});
    assert(/^127\.0\.0\.1:\d+$/.test(r.source_socket_addr), r.source_socket_addr);
    assertEquals(Object.keys(r), [
      "source_socket_addr",
      "method",
      "url",
      "bound_path",
      "headers",
      "url_params",
      "query_params",
    ]);
    // the request really was a kernel message from http-server with a timeout
    const km = seen[0];
    assertEquals(km.source.process.processName, "http-server");
    assertEquals(km.message.tag === "request" && km.message.val.expectsResponse, 15n);
  },
);

serverTest(
  "http-server: route patterns, base-path fallback, trailing slash and /our",
  async (s) => {
    const app = echoProcess(s, "app:pkg:pub");
    for (const path of ["/", "/item/:id", "/files/*rest", "/item/new"]) {
      await act(s, app, { Bind: { path, authenticated: false, local_only: false, cache: false } });
    }
    const get = async (p: string) => {
      const res = await fetch(`${s.base}${p}`);
      if (res.status !== 200) {
        await res.body?.cancel();
        return res.status;
      }
      return (await res.json()).request;
    };
    const item = await get("/app:pkg:pub/item/42");
    assertEquals(item.bound_path, "/app:pkg:pub/item/:id");
    assertEquals(item.url_params, { id: "42" });
    assertEquals((await get("/app:pkg:pub/item/new")).bound_path, "/app:pkg:pub/item/new");
    const files = await get("/app:pkg:pub/files/a/b/c.txt");
    assertEquals(files.url_params, { rest: "a/b/c.txt" });
    // an unbound subpath falls back to the process's base binding ("/")
    const deep = await get("/app:pkg:pub/not/bound/");
    assertEquals(deep.bound_path, "/app:pkg:pub");
    assertEquals(deep.url, "http://127.0.0.1/app:pkg:pub/not/bound");
    assertEquals(await get("/other:pkg:pub/x"), 404);
    const our = await fetch(`${s.base}/our`);
    assertEquals(await our.text(), OUR);
    const ourJs = await fetch(`${s.base}/our.js`);
    assertEquals(ourJs.headers.get("content-type"), "application/javascript");
    assertEquals(await ourJs.text(), `window.our = {}; window.our.node = '${OUR}';`);
  },
);

serverTest(
  "http-server: cache bindings serve the blob to GET; other methods reach the process",
  async (s) => {
    const seen: KernelMessage[] = [];
    const app = echoProcess(s, "app:pkg:pub", seen);
    assertEquals(
      await act(s, app, {
        Bind: { path: "/index.html", authenticated: false, local_only: false, cache: true },
      }, {
        mime: "text/html",
        bytes: textEncoder.encode("<h1>static</h1>"),
      }),
      { Ok: null },
    );
    const res = await fetch(`${s.base}/app:pkg:pub/index.html`);
    assertEquals(res.headers.get("content-type"), "text/html");
    assertEquals(await res.text(), "<h1>static</h1>");
    assertEquals(seen.length, 0);
    const post = await fetch(`${s.base}/app:pkg:pub/index.html`, { method: "POST", body: "x" });
    assertEquals((await post.json()).request.method, "POST");
    assertEquals(seen.length, 1);
    // cache without a blob is refused
    assertEquals(
      await act(s, app, {
        Bind: { path: "/nob", authenticated: false, local_only: false, cache: true },
      }),
      { Err: "NoBlob" },
    );
    // no mime: text/plain
    await act(s, app, {
      Bind: { path: "/plain", authenticated: false, local_only: false, cache: true },
    }, {
      bytes: textEncoder.encode("p"),
    });
    const plain = await fetch(`${s.base}/app:pkg:pub/plain`);
    assertEquals(plain.headers.get("content-type"), "text/plain");
    assertEquals(await plain.text(), "p");
  },
);

serverTest("http-server: action results, refusals, and Unbind", async (s) => {
  const app = echoProcess(s, "app:pkg:pub");
  // garbage body
  const bad = await s.k.request(app, s.http, textEncoder.encode("{not json"), {
    expectsResponse: 5,
  });
  assertEquals(bodyJson(bad), { Err: "MalformedRequest" });
  // WebSocketOpen is only ever sent by http-server
  assertEquals(await act(s, app, { WebSocketOpen: { path: "/", channel_id: 1 } }), {
    Err: "MalformedRequest",
  });
  // a remote node cannot bind paths here
  const remote = s.k.addr("app:pkg:pub", "evil.os");
  const r = await s.k.request(remote, s.http, {
    Bind: { path: "/x", authenticated: false, local_only: false, cache: false },
  }, { expectsResponse: 5 });
  assertEquals(bodyJson(r), { Err: "InvalidSourceProcess" });
  // a process cannot reach outside its prefix with dot segments
  assertEquals(
    await act(s, app, {
      Bind: {
        path: "/../other:pkg:pub/x",
        authenticated: false,
        local_only: false,
        cache: false,
      },
    }),
    { Err: "MalformedRequest" },
  );
  // a non-hypermap-safe process name is refused
  const shady = s.k.process("Bad_Name:pkg:pub", () => {});
  assertEquals(
    await act(s, shady, {
      Bind: { path: "/x", authenticated: false, local_only: false, cache: false },
    }),
    { Err: "InvalidSourceProcess" },
  );
  // without expects_response there is no Ok response
  const before = s.k.delivered.length;
  await s.k.request(app, s.http, {
    Bind: { path: "/quiet", authenticated: false, local_only: false, cache: false },
  });
  await expectStatus(fetch(`${s.base}/app:pkg:pub/quiet`), 200);
  const okResponses = s.k.delivered.slice(before).filter((m) =>
    m.message.tag === "response" && m.target.process.processName === "app"
  );
  assertEquals(okResponses.length, 0);
  // Unbind: the path goes 404 (it does not fall back to the base binding)
  await bindOpenRoot(s, app);
  assertEquals(await act(s, app, { Unbind: { path: "/quiet" } }), { Ok: null });
  await expectStatus(fetch(`${s.base}/app:pkg:pub/quiet`), 404);
});

serverTest(
  "http-server: process answers: bad HttpResponse is 500, silence is 408, send errors map",
  async (s) => {
    const app = s.k.process("quiet:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      const req = bodyJson(km) as { Http?: { url: string } };
      if (req.Http?.url.endsWith("/garbage")) k.respond(km, { nope: true });
      if (req.Http?.url.endsWith("/teapot")) {
        k.respond(km, { status: 418, headers: { "bad header": "x", "x-ok": "1" } }, {
          bytes: textEncoder.encode("short and stout"),
        });
      }
      // "/silent" never answers
    });
    await bindOpenRoot(s, app);
    await expectStatus(fetch(`${s.base}/quiet:pkg:pub/garbage`), 500);
    const teapot = await fetch(`${s.base}/quiet:pkg:pub/teapot`);
    assertEquals(teapot.status, 418);
    assertEquals(teapot.headers.get("x-ok"), "1");
    assertEquals(await teapot.text(), "short and stout");
    const t0 = performance.now();
    const silent = await fetch(`${s.base}/quiet:pkg:pub/silent`, {
      headers: { "X-Hyperware-Http-Server-Timeout": "1" },
    });
    assertEquals(silent.status, 408);
    await silent.body?.cancel();
    assert(performance.now() - t0 < 3000);
    // a kernel send error (process not running) answers at once
    const pending = fetch(`${s.base}/quiet:pkg:pub/silent`);
    let forwarded: KernelMessage | undefined;
    for (let i = 0; i < 50 && !forwarded; i++) {
      await new Promise((r) => setTimeout(r, 10));
      forwarded = s.k.delivered.findLast((m) =>
        m.message.tag === "request" && m.target.process.processName === "quiet"
      );
    }
    s.k.sendErrorToLoop({
      id: forwarded!.id,
      source: s.http,
      error: { kind: "offline", target: forwarded!.target, message: forwarded!.message },
    });
    const res = await pending;
    assertEquals(res.status, 503);
    await res.body?.cancel();
  },
);

serverTest("http-server: only the process that was asked can answer an HTTP request", async (s) => {
  const forwarded: KernelMessage[] = [];
  const app = s.k.process("slow:pkg:pub", (km) => forwarded.push(km));
  const intruder = s.k.addr("intruder:pkg:pub");
  await bindOpenRoot(s, app);
  const pending = fetch(`${s.base}/slow:pkg:pub/x`);
  while (forwarded.length === 0) await new Promise((r) => setTimeout(r, 5));
  const km = forwarded[0];
  // a forged answer with the right id from another process is ignored
  s.k.sendToLoop({
    id: km.id,
    source: intruder,
    target: km.source,
    message: {
      tag: "response",
      val: [{
        inherit: false,
        body: textEncoder.encode('{"status":200,"headers":{}}'),
        metadata: undefined,
        capabilities: [],
      }, undefined],
    },
    lazyLoadBlob: { bytes: textEncoder.encode("forged") },
  });
  await new Promise((r) => setTimeout(r, 20));
  s.k.respond(km, { status: 201, headers: {} }, { bytes: textEncoder.encode("real") });
  const res = await pending;
  assertEquals(res.status, 201);
  assertEquals(await res.text(), "real");
});

serverTest(
  "http-server: an action's Ok goes to rsvp, its error to the source, expected or not",
  async (s) => {
    const toSource = new Inbox<KernelMessage>();
    const toRsvp = new Inbox<KernelMessage>();
    const app = s.k.process("app:pkg:pub", (km) => toSource.push(km));
    const rsvp = s.k.process("parent:pkg:pub", (km) => toRsvp.push(km));
    const send = (body: string, remote = false) =>
      s.k.sendToLoop({
        id: 42n,
        source: remote ? { ...app, node: "other.os" } : app,
        target: s.http,
        rsvp,
        message: {
          tag: "request",
          val: {
            inherit: true,
            expectsResponse: undefined,
            body: textEncoder.encode(body),
            metadata: undefined,
            capabilities: [],
          },
        },
      });
    send('{"Bind":{"path":"/x","authenticated":false,"local_only":false,"cache":false}}');
    const ok = await toRsvp.next();
    assertEquals([ok.id, ok.message.tag, bodyJson(ok)], [42n, "response", { Ok: null }]);
    send("not an action");
    const malformed = await toSource.next();
    assertEquals([malformed.id, bodyJson(malformed)], [42n, { Err: "MalformedRequest" }]);
    send('{"Bind":{"path":"/x","authenticated":false,"local_only":false,"cache":true}}');
    assertEquals(bodyJson(await toSource.next()), { Err: "NoBlob" });
    // another node's process may not bind here (the harness routes by process only)
    send('{"Unbind":{"path":"/x"}}', true);
    const refused = await toSource.next();
    assertEquals([refused.target.node, bodyJson(refused)], ["other.os", {
      Err: "InvalidSourceProcess",
    }]);
    assertEquals([toSource.size, toRsvp.size], [0, 0]);
  },
);
