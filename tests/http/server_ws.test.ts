// WebSocket channels through http-server with real clients: open/push/close
// both ways, ownership, authentication, a client that never reads, and
// runtime extensions speaking MessagePack'd WebSocketExtPushData.

import { decode, encode } from "@msgpack/msgpack";
import { assert, assertEquals } from "../assert.ts";
import { type KernelMessage, textDecoder, textEncoder } from "../../wire/core.ts";
import { generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { act, OUR, serverTest, type Setup, setup } from "./server_helpers.ts";
import { bodyJson, delay, Inbox, rawRequest } from "./harness.ts";

function recorder(
  s: Setup,
  id: string,
): { inbox: Inbox<KernelMessage> } & ReturnType<Setup["k"]["addr"]> {
  const inbox = new Inbox<KernelMessage>();
  const addr = s.k.process(id, (km) => inbox.push(km));
  return Object.assign(addr, { inbox });
}

async function openClient(url: string, headers?: Record<string, string>) {
  const ws = new WebSocket(url, headers ? { headers } : undefined);
  ws.binaryType = "arraybuffer";
  const messages = new Inbox<string | ArrayBuffer>();
  ws.onmessage = (e) => messages.push(e.data);
  const closed = new Promise<CloseEvent>((r) =>
    ws.addEventListener("close", (e) => r(e as CloseEvent))
  );
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("ws open failed"));
  });
  return { ws, messages, closed };
}

function upgradeHeaders(): Record<string, string> {
  return {
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": btoa("0123456789abcdef"),
    "Sec-WebSocket-Version": "13",
  };
}

serverTest(
  "http-server: WebSocket open, pushes both ways, ownership checks, close from the process",
  async (s) => {
    const app = recorder(s, "app:pkg:pub");
    const intruder = s.k.process("intruder:pkg:pub", () => {});
    assertEquals(
      await act(s, app, { WebSocketBind: { path: "/ws", authenticated: false, extension: false } }),
      {
        Ok: null,
      },
    );
    const c = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub/ws`);
    const open = bodyJson(await app.inbox.next()) as {
      WebSocketOpen: {
        path: string;
        channel_id: number;
        source_socket_addr: string;
        forwarded_for: null;
      };
    };
    assertEquals(open.WebSocketOpen.path, "/ws");
    assertEquals(open.WebSocketOpen.forwarded_for, null);
    assert(open.WebSocketOpen.source_socket_addr.startsWith("127.0.0.1:"));
    const channel_id = open.WebSocketOpen.channel_id;

    c.ws.send("hi there");
    const text = await app.inbox.next();
    assertEquals(bodyJson(text), { WebSocketPush: { channel_id, message_type: "Text" } });
    assertEquals(textDecoder.decode(text.lazyLoadBlob!.bytes), "hi there");
    c.ws.send(new Uint8Array([1, 2, 3]));
    const bin = await app.inbox.next();
    assertEquals(bodyJson(bin), { WebSocketPush: { channel_id, message_type: "Binary" } });
    assertEquals(bin.lazyLoadBlob!.bytes, new Uint8Array([1, 2, 3]));

    assertEquals(
      await act(s, app, { WebSocketPush: { channel_id, message_type: "Text" } }, {
        bytes: textEncoder.encode("hello"),
      }),
      { Ok: null },
    );
    assertEquals(await c.messages.next(), "hello");
    await act(s, app, { WebSocketPush: { channel_id, message_type: "Binary" } }, {
      bytes: new Uint8Array([7, 7]),
    });
    assertEquals(new Uint8Array(await c.messages.next() as ArrayBuffer), new Uint8Array([7, 7]));

    // refusals
    assertEquals(
      await act(s, intruder, { WebSocketPush: { channel_id, message_type: "Text" } }, {
        bytes: textEncoder.encode("x"),
      }),
      { Err: "WsChannelNotFound" },
    );
    assertEquals(await act(s, intruder, { WebSocketClose: channel_id }), {
      Err: "WsChannelNotFound",
    });
    assertEquals(
      await act(s, app, {
        WebSocketPush: { channel_id: (channel_id ^ 1) >>> 0, message_type: "Text" },
      }, {
        bytes: textEncoder.encode("x"),
      }),
      { Err: "WsChannelNotFound" },
    );
    assertEquals(await act(s, app, { WebSocketPush: { channel_id, message_type: "Text" } }), {
      Err: "NoBlob",
    });
    assertEquals(
      await act(s, app, { WebSocketPush: { channel_id, message_type: "Ping" } }, {
        bytes: new Uint8Array(126),
      }),
      { Err: "WsPingPongTooLong" },
    );
    assertEquals(c.messages.size, 0);

    // the process closes the channel: the client sees the close, the process hears WebSocketClose
    assertEquals(await act(s, app, { WebSocketClose: channel_id }), { Ok: null });
    await c.closed;
    assertEquals(bodyJson(await app.inbox.next()), { WebSocketClose: channel_id });
    assertEquals(
      await act(s, app, { WebSocketPush: { channel_id, message_type: "Text" } }, {
        bytes: textEncoder.encode("late"),
      }),
      { Err: "WsChannelNotFound" },
    );
  },
);

serverTest("http-server: a client close reaches the process; auth and unbound paths", async (s) => {
  const app = recorder(s, "app:pkg:pub");
  await act(s, app, { WebSocketBind: { path: "/", authenticated: false, extension: false } });
  await act(s, app, {
    WebSocketBind: { path: "/private", authenticated: true, extension: false },
  });
  const c = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub`);
  const open = bodyJson(await app.inbox.next()) as {
    WebSocketOpen: { channel_id: number; path: string };
  };
  assertEquals(open.WebSocketOpen.path, "/");
  c.ws.close();
  await c.closed;
  assertEquals(bodyJson(await app.inbox.next()), {
    WebSocketClose: open.WebSocketOpen.channel_id,
  });

  // authenticated: refused without a cookie, opened with one
  const refused = await rawRequest(s.port, {
    path: "/app:pkg:pub/private",
    headers: upgradeHeaders(),
  });
  assertEquals(refused.status, 401);
  const token = await generateJwt(await importJwtKey(s.jwtSecret), OUR);
  const authed = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub/private`, {
    cookie: `hyperware-auth_${OUR}=${token}`,
  });
  const open2 = bodyJson(await app.inbox.next()) as { WebSocketOpen: { path: string } };
  assertEquals(open2.WebSocketOpen.path, "/private");
  authed.ws.close();
  await authed.closed;
  await app.inbox.next(); // its WebSocketClose
  // nothing bound for WebSockets there: plain HTTP handling answers (404)
  const none = await rawRequest(s.port, {
    path: "/nobody:pkg:pub/ws",
    headers: upgradeHeaders(),
  });
  assertEquals(none.status, 404);
});

Deno.test("http-server: a WebSocket client that never reads is dropped; others keep working", async () => {
  const s = await setup({ limits: { wsMaxBufferedBytes: 2 * 1024 * 1024 } });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  try {
    const app = recorder(s, "app:pkg:pub");
    await act(s, app, { WebSocketBind: { path: "/", authenticated: false, extension: false } });
    let head = `GET /app:pkg:pub HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n`;
    for (const [k, v] of Object.entries(upgradeHeaders())) head += `${k}: ${v}\r\n`;
    await conn.write(textEncoder.encode(head + "\r\n"));
    // ... and never read from `conn` again
    const open = bodyJson(await app.inbox.next()) as { WebSocketOpen: { channel_id: number } };
    const channel_id = open.WebSocketOpen.channel_id;
    const chunk = { bytes: new Uint8Array(256 * 1024) };
    let result: unknown = { Ok: null };
    let pushes = 0;
    while (pushes < 400) {
      result = await act(s, app, { WebSocketPush: { channel_id, message_type: "Binary" } }, chunk);
      pushes++;
      if (JSON.stringify(result) !== '{"Ok":null}') break;
    }
    assertEquals(result, { Err: "WsChannelNotFound" }, `after ${pushes} pushes`);
    assertEquals(bodyJson(await app.inbox.next()), { WebSocketClose: channel_id });
    // a well-behaved client still gets served
    const c = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub`);
    const open2 = bodyJson(await app.inbox.next()) as { WebSocketOpen: { channel_id: number } };
    await act(s, app, {
      WebSocketPush: { channel_id: open2.WebSocketOpen.channel_id, message_type: "Text" },
    }, {
      bytes: textEncoder.encode("still here"),
    });
    assertEquals(await c.messages.next(), "still here");
    c.ws.close();
    await c.closed;
  } finally {
    conn.close();
    await s.stop();
  }
});

Deno.test("http-server: extension WebSockets carry MessagePack'd WebSocketExtPushData", async () => {
  const s = await setup({ exposeLocal: true });
  try {
    const app = recorder(s, "ext:pkg:pub");
    await act(s, app, { WebSocketBind: { path: "/", authenticated: false, extension: true } });
    const c = await openClient(`ws://127.0.0.1:${s.port}/ext:pkg:pub`);
    const { WebSocketOpen: { channel_id } } = bodyJson(await app.inbox.next()) as {
      WebSocketOpen: { channel_id: number };
    };
    // process -> extension: wrapped with the request's id; the ext's reply answers that request
    const id = 0xfedcba9876543210n;
    const reply = s.k.request(app, s.http, {
      WebSocketExtPushOutgoing: {
        channel_id,
        message_type: "Binary",
        desired_reply_type: "Response",
      },
    }, { expectsResponse: 5, id, blob: { bytes: new Uint8Array([9, 8, 7]) } });
    const raw = new Uint8Array(await c.messages.next() as ArrayBuffer);
    // rmp_serde::to_vec_named's bytes, as Hyperdrive sends them
    assertEquals(
      raw.toHex(),
      "81b4576562536f636b6574457874507573684461746183a26964cffedcba9876543210" +
        "b66879706572776172655f6d6573736167655f74797065a8526573706f6e7365a4626c6f6293090807",
    );
    assertEquals(decode(raw, { useBigInt64: true }), {
      WebSocketExtPushData: { id, hyperware_message_type: "Response", blob: [9, 8, 7] },
    });
    c.ws.send(
      encode({ WebSocketExtPushData: { id, hyperware_message_type: "Response", blob: [4, 5] } }, {
        useBigInt64: true,
      }),
    );
    const answered = (await reply)!;
    assertEquals(answered.id, id);
    assertEquals(answered.message.tag, "response");
    assertEquals(bodyJson(answered), { WebSocketPush: { channel_id, message_type: "Binary" } });
    assertEquals(answered.lazyLoadBlob!.bytes, new Uint8Array([4, 5]));

    // extension -> process as a Request with its own id
    c.ws.send(
      encode({ WebSocketExtPushData: { id: 77, hyperware_message_type: "Request", blob: [1] } }),
    );
    const req = await app.inbox.next();
    assertEquals(req.id, 77n);
    assertEquals(req.message.tag, "request");
    assertEquals(req.lazyLoadBlob!.bytes, new Uint8Array([1]));
    // rmp_serde::to_vec's form (structs as arrays) is read too
    c.ws.send(encode({ WebSocketExtPushData: [78, "Request", [2, 200]] }));
    const arrayForm = await app.inbox.next();
    assertEquals(arrayForm.id, 78n);
    assertEquals(arrayForm.lazyLoadBlob!.bytes, new Uint8Array([2, 200]));
    // another HttpServerAction is dropped (printed), not passed on
    c.ws.send(encode({ WebSocketClose: channel_id }));
    // anything that is not an action is a plain push
    c.ws.send(new Uint8Array([0xc1]));
    const plain = await app.inbox.next();
    assertEquals(bodyJson(plain), { WebSocketPush: { channel_id, message_type: "Binary" } });
    assertEquals(plain.lazyLoadBlob!.bytes, new Uint8Array([0xc1]));
    // Text cannot carry the MessagePack envelope
    assertEquals(
      await act(s, app, {
        WebSocketExtPushOutgoing: {
          channel_id,
          message_type: "Text",
          desired_reply_type: "Request",
        },
      }, { bytes: new Uint8Array([1]) }),
      { Err: "NoBlob" },
    );
    c.ws.close();
    await c.closed;
    await delay(20);
  } finally {
    await s.stop();
  }
  // without exposeLocal, extensions cannot connect
  const closed = await setup();
  try {
    const app = recorder(closed, "ext:pkg:pub");
    await act(closed, app, { WebSocketBind: { path: "/", authenticated: false, extension: true } });
    const r = await rawRequest(closed.port, { path: "/ext:pkg:pub", headers: upgradeHeaders() });
    assertEquals(r.status, 403);
  } finally {
    await closed.stop();
  }
});

Deno.test("http-server: WebSockets past the limit get 503 and a closed one frees its slot", async () => {
  const s = await setup({ limits: { maxWebSockets: 2 } });
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  try {
    const app = recorder(s, "app:pkg:pub");
    await act(s, app, { WebSocketBind: { path: "/", authenticated: false, extension: false } });
    const a = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub`);
    await app.inbox.next(); // a's WebSocketOpen
    // a second connection from a client that never reads still takes a slot
    let head = `GET /app:pkg:pub HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n`;
    for (const [k, v] of Object.entries(upgradeHeaders())) head += `${k}: ${v}\r\n`;
    await silent.write(textEncoder.encode(head + "\r\n"));
    await app.inbox.next(); // its WebSocketOpen
    const full = await rawRequest(s.port, { path: "/app:pkg:pub", headers: upgradeHeaders() });
    assertEquals(full.status, 503);
    assertEquals(JSON.parse(full.text), "too many open websockets");
    a.ws.close();
    await a.closed;
    await app.inbox.next(); // a's WebSocketClose
    const b = await openClient(`ws://127.0.0.1:${s.port}/app:pkg:pub`);
    b.ws.close();
    await b.closed;
  } finally {
    silent.close();
    await s.stop();
  }
});
