// http-client against a real local HTTP/WebSocket server: HttpClientAction
// in, HttpClientResponse / HttpClientError / HttpClientRequest out.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type KernelMessage, textDecoder, textEncoder } from "../../wire/core.ts";
import { createHttpClient } from "../../modules/http_client/mod.ts";
import { bodyJson, delay, Inbox, MiniKernel } from "./harness.ts";

interface Peer {
  base: string;
  wsUrl: string;
  close(): Promise<void>;
}

function startPeer(): Peer {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      const auth = req.headers.get("x-token");
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.binaryType = "arraybuffer";
      socket.onopen = () => socket.send(`welcome ${auth}`);
      socket.onmessage = (e) => {
        if (e.data === "bye") socket.close(1000, "bye");
        else socket.send(e.data);
      };
      return response;
    }
    if (url.pathname === "/slow") {
      await delay(1500);
      return new Response("late");
    }
    const body = new Uint8Array(await req.arrayBuffer());
    return Response.json({
      method: req.method,
      header: req.headers.get("x-custom"),
      body: textDecoder.decode(body),
    }, {
      status: url.pathname === "/created" ? 201 : 200,
      headers: { "x-multi-word-header": "yes" },
    });
  });
  const port = server.addr.port;
  return {
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    close: () => server.shutdown(),
  };
}

async function boot() {
  const k = new MiniKernel("fake.dev");
  k.addModule(createHttpClient({ wsOpenTimeoutSeconds: 5 }));
  await k.start();
  const inbox = new Inbox<KernelMessage>();
  const app = k.process("app:pkg:pub", (km) => inbox.push(km));
  const client = k.addr("http-client:distro:sys");
  return { k, app, client, inbox };
}

Deno.test("http-client: Http requests return HttpResponse with the body in the blob", async () => {
  const peer = startPeer();
  const { k, app, client } = await boot();
  try {
    const res = await k.request(app, client, {
      Http: {
        method: "POST",
        version: null,
        url: `${peer.base}/created`,
        headers: { "X-Custom": "abc" },
      },
    }, { expectsResponse: 5, blob: { bytes: textEncoder.encode("request body") } });
    const body = bodyJson(res) as {
      Ok: { Http: { status: number; headers: Record<string, string> } };
    };
    assertEquals(body.Ok.Http.status, 201);
    assertEquals(body.Ok.Http.headers["Content-Type"], "application/json");
    assertEquals(body.Ok.Http.headers["X-Multi-Word-Header"], "yes");
    assertEquals(JSON.parse(textDecoder.decode(res!.lazyLoadBlob!.bytes)), {
      method: "POST",
      header: "abc",
      body: "request body",
    });
    assertEquals(res!.source.process.processName, "http-client");
  } finally {
    await k.stop();
    await peer.close();
  }
});

Deno.test("http-client: errors are HttpClientError variants, sent only when a response is expected", async () => {
  const peer = startPeer();
  const { k, app, client, inbox } = await boot();
  try {
    const ask = async (action: unknown) =>
      bodyJson(await k.request(app, client, action, { expectsResponse: 1, waitMs: 4000 }));
    const http = (o: Record<string, unknown>) => ({
      Http: { method: "GET", version: null, url: `${peer.base}/x`, headers: {}, ...o },
    });
    assertEquals(await ask({ Nonsense: {} }), { Err: "MalformedRequest" });
    assertEquals(await ask(http({ method: "GE T" })), { Err: { BadMethod: { method: "GE T" } } });
    assertEquals(await ask(http({ url: "not a url" })), { Err: { BadUrl: { url: "not a url" } } });
    assertEquals(await ask(http({ version: "HTTP/4.0" })), {
      Err: { BadVersion: { version: "HTTP/4.0" } },
    });
    const refused = await ask(http({ url: "http://127.0.0.1:1/" })) as {
      Err: { ExecuteRequestFailed: string };
    };
    assert(typeof refused.Err.ExecuteRequestFailed === "string");
    // the timeout comes from expects_response (1 s here)
    const slow = await ask(http({ url: `${peer.base}/slow` })) as {
      Err: { ExecuteRequestFailed: string };
    };
    assertMatch(slow.Err.ExecuteRequestFailed, /timed out/);
    // version strings Hyperdrive accepts are fine
    const ok = await ask(http({ version: "HTTP/1.1" })) as { Ok: { Http: { status: number } } };
    assertEquals(ok.Ok.Http.status, 200);
    // no expects_response: no error reply
    await k.request(app, client, http({ method: "GE T" }));
    await delay(50);
    assertEquals(inbox.size, 0);
  } finally {
    await k.stop();
    await peer.close();
  }
});

Deno.test("http-client: WebSocket open, pushes both ways, per-process channels, closes", async () => {
  const peer = startPeer();
  const { k, app, client, inbox } = await boot();
  try {
    const ask = async (from: typeof app, action: unknown, blob?: Uint8Array) =>
      bodyJson(
        await k.request(from, client, action, {
          expectsResponse: 5,
          blob: blob && { bytes: blob },
        }),
      );
    assertEquals(
      await ask(app, {
        WebSocketOpen: { url: peer.wsUrl, headers: { "x-token": "t0k" }, channel_id: 7 },
      }),
      { Ok: "WebSocketAck" },
    );
    const hello = await inbox.next();
    assertEquals(bodyJson(hello), { WebSocketPush: { channel_id: 7, message_type: "Text" } });
    assertEquals(hello.lazyLoadBlob!.mime, "text/plain");
    assertEquals(textDecoder.decode(hello.lazyLoadBlob!.bytes), "welcome t0k");

    assertEquals(
      await ask(
        app,
        { WebSocketPush: { channel_id: 7, message_type: "Text" } },
        textEncoder.encode("ping me"),
      ),
      { Ok: "WebSocketAck" },
    );
    const echoed = await inbox.next();
    assertEquals(textDecoder.decode(echoed.lazyLoadBlob!.bytes), "ping me");
    await ask(
      app,
      { WebSocketPush: { channel_id: 7, message_type: "Binary" } },
      new Uint8Array([1, 2]),
    );
    const binEcho = await inbox.next();
    assertEquals(bodyJson(binEcho), { WebSocketPush: { channel_id: 7, message_type: "Binary" } });
    assertEquals(binEcho.lazyLoadBlob!.mime, "application/octet-stream");
    assertEquals(binEcho.lazyLoadBlob!.bytes, new Uint8Array([1, 2]));

    assertEquals(
      await ask(
        app,
        { WebSocketPush: { channel_id: 7, message_type: "Text" } },
        new Uint8Array([0xff, 0xfe]),
      ),
      { Err: "WsPushBadText" },
    );
    assertEquals(await ask(app, { WebSocketPush: { channel_id: 7, message_type: "Binary" } }), {
      Err: "WsPushNoBlob",
    });
    // channel ids belong to the process that opened them
    const other = k.process("other:pkg:pub", () => {});
    assertEquals(
      await ask(
        other,
        { WebSocketPush: { channel_id: 7, message_type: "Text" } },
        textEncoder.encode("x"),
      ),
      { Err: { WsPushUnknownChannel: { channel_id: 7 } } },
    );
    assertEquals(await ask(other, { WebSocketClose: { channel_id: 7 } }), {
      Err: { WsCloseFailed: { channel_id: 7 } },
    });

    // the server closes: the process hears WebSocketClose
    await ask(
      app,
      { WebSocketPush: { channel_id: 7, message_type: "Text" } },
      textEncoder.encode("bye"),
    );
    assertEquals(bodyJson(await inbox.next()), { WebSocketClose: { channel_id: 7 } });

    // the process closes: acknowledged, no close notice, then unknown
    await ask(app, { WebSocketOpen: { url: peer.wsUrl, headers: {}, channel_id: 8 } });
    await inbox.next(); // welcome
    assertEquals(await ask(app, { WebSocketClose: { channel_id: 8 } }), { Ok: "WebSocketAck" });
    assertEquals(await ask(app, { WebSocketClose: { channel_id: 8 } }), {
      Err: { WsCloseFailed: { channel_id: 8 } },
    });
    await delay(50);
    assertEquals(inbox.size, 0);

    assertEquals(
      await ask(app, { WebSocketOpen: { url: "ws://127.0.0.1:1/", headers: {}, channel_id: 9 } }),
      {
        Err: { WsOpenFailed: { url: "ws://127.0.0.1:1/" } },
      },
    );
    assertEquals(await ask(app, { WebSocketOpen: { url: "::", headers: {}, channel_id: 9 } }), {
      Err: { BadUrl: { url: "::" } },
    });
  } finally {
    await k.stop();
    await peer.close();
  }
});
