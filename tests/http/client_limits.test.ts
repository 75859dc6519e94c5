// http-client's limits: requests in flight (all processes, and per process),
// response bytes being read across requests, open WebSockets, and how long a
// request nobody awaits may run. Each refusal is an HttpClientError with a clear
// text, and a freed slot serves the next request.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { createHttpClient, type HttpClientOptions } from "../../modules/http_client/mod.ts";
import { bodyJson, delay, MiniKernel } from "./harness.ts";

/** A server: /hang never answers, /stall sends 1 MiB then stalls, /ws upgrades, else "ok". */
function startPeer() {
  let hung = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/hang") {
      hung++;
      return new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => {
          hung--;
          resolve(new Response("gone"));
        });
      });
    }
    if (path === "/stall") {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(1024 * 1024));
          // ... and nothing more until the client goes away
        },
      });
      return new Response(body);
    }
    if (path === "/ws") return Deno.upgradeWebSocket(req).response;
    return new Response("ok");
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    get hung() {
      return hung;
    },
    close: () => server.shutdown(),
  };
}

async function boot(opts: HttpClientOptions) {
  const k = new MiniKernel("fake.dev");
  k.addModule(createHttpClient(opts));
  await k.start();
  const client = k.addr("http-client:distro:sys");
  const get = (url: string) => ({ Http: { method: "GET", version: null, url, headers: {} } });
  const ask = async (from: ReturnType<typeof k.addr>, action: unknown, seconds = 5) =>
    bodyJson(
      await k.request(from, client, action, {
        expectsResponse: seconds,
        waitMs: seconds * 1000 + 2000,
      }),
    ) as { Ok?: { Http: { status: number } }; Err?: { ExecuteRequestFailed?: string } };
  const raw = async (from: ReturnType<typeof k.addr>, action: unknown): Promise<unknown> =>
    bodyJson(await k.request(from, client, action, { expectsResponse: 5 }));
  return { k, client, get, ask, raw };
}

Deno.test("http-client: requests in flight are limited overall and per process", async () => {
  const peer = startPeer();
  const { k, client, get, ask } = await boot({
    maxConcurrentRequests: 3,
    maxConcurrentRequestsPerProcess: 2,
    unawaitedRequestSeconds: 1,
  });
  const a = k.process("a:pkg:pub", () => {});
  const b = k.process("b:pkg:pub", () => {});
  const c = k.process("c:pkg:pub", () => {});
  try {
    // a holds two requests on a server that never answers
    const held = [ask(a, get(`${peer.base}/hang`), 3), ask(a, get(`${peer.base}/hang`), 3)];
    while (peer.hung < 2) await delay(10);
    const third = await ask(a, get(`${peer.base}/x`));
    assertEquals(third, {
      Err: { ExecuteRequestFailed: "too many requests in flight from a:pkg:pub (limit 2)" },
    });
    // b still gets one (3 in flight: the limit for everyone)
    const bHeld = ask(b, get(`${peer.base}/hang`), 3);
    while (peer.hung < 3) await delay(10);
    assertEquals(await ask(c, get(`${peer.base}/x`)), {
      Err: { ExecuteRequestFailed: "too many requests in flight (limit 3)" },
    });
    // the held ones time out (expects_response 3 s) and free their slots
    for (const r of [...held, bHeld]) {
      assertMatch((await r).Err!.ExecuteRequestFailed!, /timed out/);
    }
    assertEquals((await ask(c, get(`${peer.base}/x`))).Ok?.Http.status, 200);
    // a request nobody awaits gives its slot back after unawaitedRequestSeconds
    await k.request(a, client, get(`${peer.base}/hang`));
    await k.request(a, client, get(`${peer.base}/hang`));
    while (peer.hung < 2) await delay(10);
    assertMatch((await ask(a, get(`${peer.base}/x`))).Err!.ExecuteRequestFailed!, /limit 2/);
    while (peer.hung > 0) await delay(20);
    assertEquals((await ask(a, get(`${peer.base}/x`))).Ok?.Http.status, 200);
  } finally {
    await k.stop();
    await peer.close();
  }
});

Deno.test("http-client: response bytes being read are limited across requests", async () => {
  const peer = startPeer();
  const { k, get, ask } = await boot({
    maxResponseBytes: 4 * 1024 * 1024,
    maxResponseBytesInFlight: 1.5 * 1024 * 1024,
  });
  const a = k.process("a:pkg:pub", () => {});
  const b = k.process("b:pkg:pub", () => {});
  try {
    // a's response has 1 MiB read and stalls: it holds that much of the budget
    const stalled = ask(a, get(`${peer.base}/stall`), 3);
    await delay(300);
    const started = performance.now();
    const refused = await ask(b, get(`${peer.base}/stall`), 3);
    assertEquals(refused, {
      Err: {
        ExecuteRequestFailed: `response bodies in flight over ${
          1.5 * 1024 * 1024
        } bytes; try again later`,
      },
    });
    // refused as the budget ran out, not when its own timeout came
    assert(performance.now() - started < 2500, "refused at once");
    assertMatch((await stalled).Err!.ExecuteRequestFailed!, /timed out/);
    // given back: the next one is read whole
    assertEquals((await ask(b, get(`${peer.base}/x`))).Ok?.Http.status, 200);
  } finally {
    await k.stop();
    await peer.close();
  }
});

Deno.test("http-client: open WebSockets are limited; a closed one frees its slot", async () => {
  const peer = startPeer();
  const { k, raw } = await boot({ maxWebSockets: 2 });
  const a = k.process("a:pkg:pub", () => {});
  const url = `${peer.base.replace("http", "ws")}/ws`;
  const open = (channel_id: number) => ({ WebSocketOpen: { url, headers: {}, channel_id } });
  try {
    assertEquals(await raw(a, open(1)), { Ok: "WebSocketAck" });
    assertEquals(await raw(a, open(2)), { Ok: "WebSocketAck" });
    // reopening a channel replaces it: not one more
    assertEquals(await raw(a, open(2)), { Ok: "WebSocketAck" });
    assertEquals(await raw(a, open(3)), { Err: { WsOpenFailed: { url } } });
    assertEquals(await raw(a, { WebSocketClose: { channel_id: 1 } }), { Ok: "WebSocketAck" });
    assertEquals(await raw(a, open(3)), { Ok: "WebSocketAck" });
  } finally {
    await k.stop();
    await peer.close();
  }
});
