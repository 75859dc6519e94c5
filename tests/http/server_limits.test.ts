// Hostile requests: path traversal, oversized bodies and headers. Each is
// refused with a clear status and the server keeps serving others.

import { assert, assertEquals } from "../assert.ts";
import { type KernelMessage, textEncoder } from "../../wire/core.ts";
import {
  act,
  bindOpenRoot,
  echoProcess,
  expectStatus,
  serverTest,
  setup,
} from "./server_helpers.ts";
import { bodyJson, delay, rawRequest } from "./harness.ts";

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

Deno.test("http-server: request bodies held across connections are limited (503), then freed", async () => {
  const MiB = 1024 * 1024;
  const s = await setup({ limits: { maxBodyBytes: 2 * MiB, maxBufferedBodyBytes: 2.5 * MiB } });
  // a process that holds every request until told to answer
  const held: KernelMessage[] = [];
  const answerAll = () => {
    for (const km of held.splice(0)) {
      s.k.respond(km, { status: 200, headers: {} }, { bytes: textEncoder.encode("done") });
    }
  };
  let waiting: Promise<Response>[] = [];
  try {
    const slow = s.k.process("slow:pkg:pub", (km) => {
      if (km.message.tag === "request") held.push(km);
    });
    const fast = echoProcess(s, "fast:pkg:pub");
    await bindOpenRoot(s, slow);
    await bindOpenRoot(s, fast);
    const post = (app: string, bytes: number | ReadableStream<Uint8Array>) =>
      fetch(`${s.base}/${app}/up`, {
        method: "POST",
        body: typeof bytes === "number" ? new Uint8Array(bytes) : bytes,
      });
    // two 1 MiB bodies wait on the slow process: 2 MiB held
    waiting = [post("slow:pkg:pub", MiB), post("slow:pkg:pub", MiB)];
    while (held.length < 2) await delay(10);
    // a third declared 1 MiB does not fit: refused before it is read
    const refused = await post("fast:pkg:pub", MiB);
    const text = await refused.text();
    assertEquals(refused.status, 503);
    assertEquals(refused.headers.get("retry-after"), "1");
    assertEquals(text, '"too many request bytes in flight"');
    // nor does one streamed without a length, once it passes what is left
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(128 * 1024));
        c.close();
      },
    });
    await expectStatus(post("fast:pkg:pub", stream), 503);
    // small bodies and bodiless requests still fit
    await expectStatus(post("fast:pkg:pub", 1000), 200);
    await expectStatus(fetch(`${s.base}/fast:pkg:pub/x`), 200);
    // answering gives the bytes back
    answerAll();
    for (const r of await Promise.all(waiting)) await expectStatus(r, 200);
    await expectStatus(post("fast:pkg:pub", 2 * MiB), 200);
  } finally {
    // (so a failure above does not leave the server waiting on its clients)
    answerAll();
    for (const r of await Promise.allSettled(waiting)) {
      if (r.status === "fulfilled") await r.value.body?.cancel().catch(() => {});
    }
    await s.stop();
  }
});

Deno.test("http-server: WebSocket buffers across channels are limited: the slowest readers go", async () => {
  const MiB = 1024 * 1024;
  // a channel alone may hold 64 MiB unread, all channels together 2 MiB
  const s = await setup({
    limits: { wsMaxBufferedBytes: 64 * MiB, wsMaxTotalBufferedBytes: 2 * MiB, maxWebSockets: 4 },
  });
  const conns: Deno.Conn[] = [];
  try {
    const inbox: KernelMessage[] = [];
    const app = s.k.process("app:pkg:pub", (km) => void inbox.push(km));
    await act(s, app, { WebSocketBind: { path: "/", authenticated: false, extension: false } });
    // two clients that upgrade and never read
    const channels: number[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      conns.push(conn);
      await conn.write(textEncoder.encode(
        `GET /app:pkg:pub HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${btoa("0123456789abcdef")}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      ));
      while (inbox.length <= i) await delay(10);
      channels.push(
        (bodyJson(inbox[i]) as { WebSocketOpen: { channel_id: number } })
          .WebSocketOpen.channel_id,
      );
    }
    const chunk = { bytes: new Uint8Array(256 * 1024) };
    let pushed = 0;
    let dropped: number | undefined;
    // 24 MiB in all (12 MiB a channel, far under the per-channel limit)
    for (let i = 0; i < 96 && dropped === undefined; i++) {
      const channel_id = channels[i % 2];
      const r = await act(s, app, { WebSocketPush: { channel_id, message_type: "Binary" } }, chunk);
      if (JSON.stringify(r) === '{"Ok":null}') pushed += chunk.bytes.length;
      else {
        assertEquals(r, { Err: "WsChannelNotFound" });
        dropped = channel_id;
      }
    }
    assert(dropped !== undefined, `no channel dropped after ${pushed} bytes`);
    await delay(50);
    assert(
      inbox.some((km) =>
        JSON.stringify(bodyJson(km)) === JSON.stringify({ WebSocketClose: dropped })
      ),
      "the app heard the close",
    );
    // a client that reads is still served
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app:pkg:pub`);
    const got = new Promise<string>((r) => (ws.onmessage = (e) => r(e.data)));
    await new Promise((r) => (ws.onopen = r));
    while (inbox.length < 4) await delay(10);
    const open = inbox.map((km) => bodyJson(km) as { WebSocketOpen?: { channel_id: number } })
      .filter((b) => b.WebSocketOpen).pop()!;
    await act(s, app, {
      WebSocketPush: { channel_id: open.WebSocketOpen!.channel_id, message_type: "Text" },
    }, { bytes: textEncoder.encode("still here") });
    assertEquals(await got, "still here");
    ws.close();
  } finally {
    for (const c of conns) c.close();
    await s.stop();
  }
});
