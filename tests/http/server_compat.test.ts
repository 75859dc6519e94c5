// http-server details a Hyperdrive app or kit can observe, pinned to what
// Hyperdrive's warp-based server does.

import { assert, assertEquals } from "../assert.ts";
import { type KernelMessage, textEncoder } from "../../wire/core.ts";
import {
  HTTP_SELF_IMPOSED_TIMEOUT,
  HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION,
} from "../../modules/http_server/mod.ts";
import { act, bindOpenRoot, expectStatus, serverTest, setup } from "./server_helpers.ts";
import { bodyJson, Inbox, rawRequest } from "./harness.ts";

serverTest(
  "http-server: a process response without Content-Type is application/octet-stream",
  async (s) => {
    // warp sends a Vec<u8> body as application/octet-stream; the process's headers replace it
    const app = s.k.process("typed:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      const url = (bodyJson(km) as { Http?: { url: string } }).Http?.url ?? "";
      const headers: Record<string, string> = url.endsWith("/html")
        ? { "Content-Type": "text/html" }
        : url.endsWith("/lower")
        ? { "content-type": "application/json" }
        : { "x-other": "1" };
      k.respond(km, { status: 200, headers }, { bytes: textEncoder.encode("<p>x</p>") });
    });
    await bindOpenRoot(s, app);
    for (
      const [path, type] of [
        ["bare", "application/octet-stream"],
        ["html", "text/html"],
        ["lower", "application/json"],
      ]
    ) {
      const res = await fetch(`${s.base}/typed:pkg:pub/${path}`);
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), type, path);
      assertEquals(await res.text(), "<p>x</p>");
    }
  },
);

Deno.test("http-server: a process's response headers end up as Headers.set would store them", async () => {
  const s = await setup();
  // raw JSON texts, so keys like __proto__ arrive as the process wrote them
  const cases: Record<string, string> = {
    plain: '{"Content-Type":"text/plain","X-App":"a"}',
    cased: '{"X-A":"1","x-a":"2","CONTENT-TYPE":"text/html"}',
    padded: '{"x-pad":"  v  ","x-tab":"a\\tb","x-empty":""}',
    invalid: '{"bad name":"v","x-nl":"a\\nb","x-ok":"yes","x-num":5,"x-null":null}',
    latin: '{"x-latin":"caf\u00e9","x-wide":"\u20ac"}',
    proto: '{"__proto__":"x","x-after":"1"}',
    array: '[["x-a","b"]]',
  };
  try {
    const app = s.k.process("hdrs:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      const url = (bodyJson(km) as { Http?: { url: string } }).Http?.url ?? "";
      const name = url.slice(url.lastIndexOf("/") + 1);
      const body = textEncoder.encode(`{"status":200,"headers":${cases[name]}}`);
      k.respond(km, body, { bytes: textEncoder.encode("ok") });
    });
    await bindOpenRoot(s, app);
    for (const [name, text] of Object.entries(cases)) {
      // the reference: warp's default type, then each string header through Headers.set
      const want = new Headers({ "content-type": "application/octet-stream" });
      for (const [k, v] of Object.entries(JSON.parse(text))) {
        if (typeof v !== "string") continue;
        try {
          want.set(k, v);
        } catch {
          // skipped, as Hyperdrive skips invalid headers
        }
      }
      const res = await fetch(`${s.base}/hdrs:pkg:pub/${name}`);
      assertEquals(await res.text(), "ok");
      const got: [string, string][] = [];
      res.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "date") got.push([k, v]);
      });
      assertEquals(got, [...want], name);
    }
  } finally {
    await s.stop();
  }
});

Deno.test("http-server: the self-imposed timeout is an option (Hyperdrive's fake nodes wait 600 s)", async () => {
  assertEquals(HTTP_SELF_IMPOSED_TIMEOUT, 15);
  assertEquals(HTTP_SELF_IMPOSED_TIMEOUT_SIMULATION, 600);
  const s = await setup({ exposeLocal: true, selfImposedTimeoutSeconds: 1 });
  try {
    const seen = new Inbox<KernelMessage>();
    const app = s.k.process("quiet:pkg:pub", (km) => {
      if (km.message.tag === "request") seen.push(km); // never answers
    });
    await bindOpenRoot(s, app);
    let t0 = performance.now();
    await expectStatus(fetch(`${s.base}/quiet:pkg:pub/x`), 408);
    const elapsed = performance.now() - t0;
    assert(elapsed >= 900 && elapsed < 3000, `${elapsed} ms`);
    const km = await seen.next();
    assert(km.message.tag === "request");
    assertEquals(km.message.val.expectsResponse, 1n);

    // kit's RPC waits on the same clock, whatever its expects_response
    t0 = performance.now();
    await expectStatus(
      fetch(`${s.base}/rpc:distro:sys/message`, {
        method: "POST",
        body: JSON.stringify({
          node: null,
          process: "quiet:pkg:pub",
          inherit: false,
          expects_response: 15,
          body: "{}",
          metadata: null,
          context: null,
          mime: "application/octet-stream",
          data: null,
        }),
      }),
      408,
    );
    assert(performance.now() - t0 < 3000);
    const injected = await seen.next();
    assert(injected.message.tag === "request");
    assertEquals(injected.message.val.expectsResponse, 15n);
  } finally {
    await s.stop();
  }
});

serverTest(
  "http-server: what process_lib and kit read, as warp and serde produce it",
  async (s) => {
    const seen: KernelMessage[] = [];
    const app = s.k.process("app:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      seen.push(km);
      k.respond(km, { status: 200, headers: {} }, { bytes: textEncoder.encode("ok") });
    });
    await act(s, app, {
      Bind: { path: "/user/:name", authenticated: false, local_only: false, cache: false },
    });
    const res = await rawRequest(s.port, {
      path: "/app:pkg:pub/user/john%20doe/?a=1&a=2&b=c+d&e=%41",
      host: "localhost:8080",
    });
    assertEquals(res.text, "ok");
    const req = (bodyJson(seen[0]) as {
      Http: { url: string; url_params: unknown; query_params: unknown; headers: unknown };
    }).Http;
    // warp's FullPath is the raw path; route-recognizer's params are not decoded
    assertEquals(req.url, "http://localhost/app:pkg:pub/user/john%20doe");
    assertEquals(req.url_params, { name: "john%20doe" });
    // serde_urlencoded into a HashMap: decoded, the last of a repeated key wins
    assertEquals(req.query_params, { a: "2", b: "c d", e: "A" });
    assertEquals((req.headers as Record<string, string>).host, "localhost:8080");

    // kit's RPC answer: JSON RpcResponseBody served as text/html
    s.k.process("echo:pkg:pub", (km, k) => {
      if (km.message.tag === "request") k.respond(km, "pong");
    });
    const rpc = await fetch(`${s.base}/rpc:distro:sys/message`, {
      method: "POST",
      body: JSON.stringify({
        node: null,
        process: "echo:pkg:pub",
        inherit: false,
        expects_response: 5,
        body: "ping",
        metadata: null,
        context: null,
        mime: "application/octet-stream",
        data: null,
      }),
    });
    assertEquals(rpc.status, 200);
    assertEquals(rpc.headers.get("content-type"), "text/html");
    assertEquals(await rpc.json(), {
      body: Array.from(textEncoder.encode('"pong"')),
      lazy_load_blob: null,
    });
  },
  { exposeLocal: true },
);

serverTest(
  "http-server: each answer gets its own status, headers and body when a process repeats or varies its head",
  async (s) => {
    // more distinct heads than http-server keeps parsed (8), some repeated, some
    // answered with different bodies, some malformed, some taking the Headers path
    const heads: Record<string, string> = {};
    for (let i = 0; i < 12; i++) {
      heads[`h${i}`] = `{"status":${200 + i},"headers":{"Content-Type":"text/plain","X-N":"${i}"}}`;
    }
    heads.bad = '{"status":"200","headers":{}}';
    heads.notjson = "{status:200}";
    heads.padded = '{"status":200,"headers":{"X-N":" padded "}}';
    const app = s.k.process("heads:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      const url = (bodyJson(km) as { Http?: { url: string } }).Http?.url ?? "";
      const [name, body] = url.slice(url.lastIndexOf("/") + 1).split("-");
      k.respond(km, textEncoder.encode(heads[name]), { bytes: textEncoder.encode(body) });
    });
    await bindOpenRoot(s, app);
    const order = [
      ...Object.keys(heads),
      ...Object.keys(heads).reverse(),
      "h0",
      "h11",
      "h0",
      "bad",
      "h0",
    ];
    for (const [n, name] of order.entries()) {
      const res = await fetch(`${s.base}/heads:pkg:pub/${name}-body${n}`);
      if (name === "bad" || name === "notjson") {
        assertEquals(res.status, 500, name);
        await res.body?.cancel();
        continue;
      }
      const i = name === "padded" ? -1 : Number(name.slice(1));
      assertEquals(res.status, i < 0 ? 200 : 200 + i, name);
      assertEquals(res.headers.get("x-n"), i < 0 ? "padded" : String(i), name);
      assertEquals(
        res.headers.get("content-type"),
        i < 0 ? "application/octet-stream" : "text/plain",
        name,
      );
      // 204 and 205 carry no body
      assertEquals(await res.text(), i === 4 || i === 5 ? "" : `body${n}`, name);
    }
  },
);
