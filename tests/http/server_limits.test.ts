// Hostile requests: path traversal, oversized bodies and headers. Each is
// refused with a clear status and the server keeps serving others.

import { assertEquals } from "../assert.ts";
import { textEncoder } from "../../wire/core.ts";
import {
  act,
  bindOpenRoot,
  echoProcess,
  expectStatus,
  serverTest,
  setup,
} from "./server_helpers.ts";
import { rawRequest } from "./harness.ts";

serverTest("http-server: traversal in request paths is refused with 400", async (s) => {
  const app = echoProcess(s, "app:pkg:pub");
  const other = echoProcess(s, "other:pkg:pub");
  await bindOpenRoot(s, app);
  await act(s, other, {
    Bind: { path: "/secret", authenticated: false, local_only: false, cache: true },
  }, { bytes: textEncoder.encode("other's file") });
  const attempts = [
    "/app:pkg:pub/../other:pkg:pub/secret",
    "/app:pkg:pub/./x",
    "/app:pkg:pub/%2e%2e/other:pkg:pub/secret",
    "/app:pkg:pub/.%2E/x",
    "/app:pkg:pub/a%2F..%2Fb",
    "/app:pkg:pub/a%5c..%5cb",
    "/app:pkg:pub/bad%zzescape",
    "/app:pkg:pub/nul%00",
  ];
  for (const path of attempts) {
    const r = await rawRequest(s.port, { path });
    assertEquals(r.status, 400, path);
    assertEquals(r.text, '"invalid path"', path);
  }
  const fine = await rawRequest(s.port, { path: "/app:pkg:pub/docs/..hidden.txt" });
  assertEquals(fine.status, 200);
  assertEquals(
    JSON.parse(fine.text).request.url,
    "http://127.0.0.1/app:pkg:pub/docs/..hidden.txt",
  );
});

serverTest(
  "http-server: oversized bodies get 413 and oversized headers 431; others still served",
  async (s) => {
    const app = echoProcess(s, "app:pkg:pub");
    await bindOpenRoot(s, app);
    // declared too large
    await expectStatus(
      fetch(`${s.base}/app:pkg:pub/up`, {
        method: "POST",
        body: "x".repeat(2048),
      }),
      413,
    );
    // streamed (chunked, no length) past the limit
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(512));
        c.close();
      },
    });
    await expectStatus(fetch(`${s.base}/app:pkg:pub/up`, { method: "POST", body: stream }), 413);
    // at the limit is fine
    const exact = await fetch(`${s.base}/app:pkg:pub/up`, {
      method: "POST",
      body: "y".repeat(1024),
    });
    assertEquals(exact.status, 200);
    assertEquals((await exact.json()).body.length, 1024);
    // headers
    await expectStatus(
      fetch(`${s.base}/app:pkg:pub/h`, { headers: { "x-big": "z".repeat(5000) } }),
      431,
    );
    const many: Record<string, string> = {};
    for (let i = 0; i < 100; i++) many[`x-h${i}`] = "v".repeat(50);
    await expectStatus(fetch(`${s.base}/app:pkg:pub/h`, { headers: many }), 431);
    await expectStatus(fetch(`${s.base}/app:pkg:pub/h`), 200);
  },
  { limits: { maxBodyBytes: 1024, maxHeaderBytes: 4096 } },
);

serverTest("http-server: port false serves nothing but still answers actions", async (s) => {
  assertEquals(s.server.port, undefined);
  assertEquals(s.server.url, undefined);
  const app = echoProcess(s, "app:pkg:pub");
  assertEquals(
    await act(s, app, {
      Bind: { path: "/", authenticated: false, local_only: false, cache: false },
    }),
    { Ok: null },
  );
}, { port: false });

Deno.test("http-server: searchPort moves past a taken port", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = (blocker.addr as Deno.NetAddr).port;
  try {
    const s = await setup({ port: taken, searchPort: true });
    try {
      assertEquals(s.port > taken, true);
    } finally {
      await s.stop();
    }
    let failed = false;
    try {
      await setup({ port: taken });
    } catch (e) {
      failed = e instanceof Deno.errors.AddrInUse;
    }
    assertEquals(failed, true);
  } finally {
    blocker.close();
  }
});
