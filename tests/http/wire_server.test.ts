// wire/http_server.ts on its own: HttpServerAction from serde JSON and from an
// extension's MessagePack, WebSocketExtPushData's exact bytes, RpcMessage,
// HttpServerRequest::Http's JSON.

import { decode, encode } from "@msgpack/msgpack";
import { assertEquals } from "../assert.ts";
import {
  encodeWebSocketExtPushData,
  httpRequestJson,
  type HttpServerAction,
  HttpServerFailure,
  type IncomingHttpRequest,
  parseHttpServerAction,
  parseRpcMessage,
  readHttpServerAction,
} from "../../wire/http_server.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const json = (v: unknown) => utf8(JSON.stringify(v));

function malformed(body: Uint8Array): string {
  try {
    parseHttpServerAction(body);
  } catch (e) {
    return e instanceof HttpServerFailure ? e.error : `other: ${e}`;
  }
  return "parsed";
}

Deno.test("wire/http_server: every HttpServerAction variant from serde JSON", () => {
  const cases: [unknown, HttpServerAction][] = [
    [
      { Bind: { path: "/a", authenticated: true, local_only: false, cache: true } },
      { tag: "Bind", path: "/a", authenticated: true, localOnly: false, cache: true },
    ],
    [{ SecureBind: { path: "/s", cache: false } }, { tag: "SecureBind", path: "/s", cache: false }],
    [{ Unbind: { path: "/a" } }, { tag: "Unbind", path: "/a" }],
    [
      { WebSocketBind: { path: "/w", authenticated: false, extension: true } },
      { tag: "WebSocketBind", path: "/w", authenticated: false, extension: true },
    ],
    [
      { WebSocketSecureBind: { path: "/w", extension: false } },
      { tag: "WebSocketSecureBind", path: "/w", extension: false },
    ],
    [{ WebSocketUnbind: { path: "/w" } }, { tag: "WebSocketUnbind", path: "/w" }],
    [
      { WebSocketOpen: { path: "/w", channel_id: 4294967295 } },
      { tag: "WebSocketOpen", path: "/w", channelId: 4294967295 },
    ],
    [
      { WebSocketPush: { channel_id: 7, message_type: "Pong" } },
      { tag: "WebSocketPush", channelId: 7, messageType: "Pong" },
    ],
    [
      {
        WebSocketExtPushOutgoing: {
          channel_id: 7,
          message_type: "Binary",
          desired_reply_type: "Request",
        },
      },
      {
        tag: "WebSocketExtPushOutgoing",
        channelId: 7,
        messageType: "Binary",
        desiredReplyType: "Request",
      },
    ],
    [{ WebSocketClose: 9 }, { tag: "WebSocketClose", channelId: 9 }],
  ];
  for (const [value, want] of cases) assertEquals(parseHttpServerAction(json(value)), want);
  // u64 ids beyond 2^53 survive exactly
  assertEquals(
    parseHttpServerAction(
      utf8(
        '{"WebSocketExtPushData":{"id":18364758544493064720,"hyperware_message_type":"Response","blob":[1,255]}}',
      ),
    ),
    {
      tag: "WebSocketExtPushData",
      id: 18364758544493064720n,
      hyperwareMessageType: "Response",
      blob: new Uint8Array([1, 255]),
    },
  );
});

Deno.test("wire/http_server: anything else is MalformedRequest", () => {
  const bad: (string | Uint8Array)[] = [
    "",
    "{",
    "null",
    '"Bind"',
    '{"Bind":{"path":"/a","authenticated":true,"local_only":false}}',
    '{"Bind":{"path":1,"authenticated":true,"local_only":false,"cache":false}}',
    '{"Bind":{"path":"/a","authenticated":"yes","local_only":false,"cache":false}}',
    '{"Unbind":{"path":"/a"},"SecureBind":{"path":"/b","cache":false}}',
    '{"Rebind":{"path":"/a"}}',
    '{"toString":{"path":"/a"}}',
    '{"WebSocketClose":-1}',
    '{"WebSocketClose":4294967296}',
    '{"WebSocketClose":1.5}',
    '{"WebSocketPush":{"channel_id":1,"message_type":"Shout"}}',
    '{"WebSocketExtPushData":{"id":1,"hyperware_message_type":"Request","blob":[256]}}',
    new Uint8Array([0x7b, 0xff, 0x7d]), // not UTF-8
  ];
  for (const b of bad) {
    assertEquals(malformed(typeof b === "string" ? utf8(b) : b), "MalformedRequest", String(b));
  }
});

// "WebSocketExtPushData", "id", "hyperware_message_type", "Request", "blob" as fixstr
const EXT_PUSH_DATA_ID_77_REQUEST_BLOB_1 = "81" + "b4" + "576562536f636b657445787450757368" +
  "44617461" + "83" + "a2" + "6964" + "4d" + "b6" +
  "6879706572776172655f6d6573736167655f74797065" + "a7" + "52657175657374" + "a4" +
  "626c6f62" + "91" + "01";

Deno.test("wire/http_server: WebSocketExtPushData is rmp_serde::to_vec_named's bytes", () => {
  // {"WebSocketExtPushData": {"id": 77, "hyperware_message_type": "Request", "blob": [1]}}
  assertEquals(
    encodeWebSocketExtPushData(77n, "Request", new Uint8Array([1])).toHex(),
    EXT_PUSH_DATA_ID_77_REQUEST_BLOB_1,
  );
  // a u64 past u32 is cf + 8 bytes; blob bytes >= 0x80 are cc xx (Vec<u8> is a sequence)
  const big = encodeWebSocketExtPushData(
    0xfedcba9876543210n,
    "Response",
    new Uint8Array([9, 0x7f, 0x80, 0xff]),
  );
  assertEquals(
    big.toHex(),
    "81b4576562536f636b6574457874507573684461746183a26964cffedcba9876543210" +
      "b66879706572776172655f6d6573736167655f74797065a8526573706f6e7365" +
      "a4626c6f6294097fcc80ccff",
  );
  // an independent encoder agrees (it writes maps, fixstr and ints as rmp does)
  assertEquals(
    big,
    encode(
      {
        WebSocketExtPushData: {
          id: 0xfedcba9876543210n,
          hyperware_message_type: "Response",
          blob: [9, 0x7f, 0x80, 0xff],
        },
      },
      { useBigInt64: true },
    ),
  );
  // the middle widths: u8, u16, u32
  for (const [id, head] of [[200n, "cc"], [0x1234n, "cd"], [0x89abcdefn, "ce"]] as const) {
    const hex = encodeWebSocketExtPushData(id, "Request", new Uint8Array()).toHex();
    assertEquals(hex.slice(52, 54), head, `${id}`);
    assertEquals(decode(Uint8Array.fromHex(hex), { useBigInt64: true }), {
      WebSocketExtPushData: { id: Number(id), hyperware_message_type: "Request", blob: [] },
    });
  }
});

Deno.test("wire/http_server: an extension's MessagePack read as rmp_serde::from_slice reads it", () => {
  const want: HttpServerAction = {
    tag: "WebSocketExtPushData",
    id: 77n,
    hyperwareMessageType: "Request",
    blob: new Uint8Array([1]),
  };
  // to_vec_named (maps), and what our encoder writes
  assertEquals(readHttpServerAction(Uint8Array.fromHex(EXT_PUSH_DATA_ID_77_REQUEST_BLOB_1)), want);
  // to_vec: structs as arrays of their fields
  assertEquals(
    readHttpServerAction(encode({ WebSocketExtPushData: [77, "Request", [1]] })),
    want,
  );
  // blob as msgpack bin, fields in another order, unknown fields skipped, trailing bytes ignored
  const loose = encode({
    WebSocketExtPushData: {
      blob: new Uint8Array([1]),
      extra: [1, 2],
      hyperware_message_type: "Request",
      id: 77,
    },
  });
  const trailing = new Uint8Array([...loose, 0xc1]);
  assertEquals(readHttpServerAction(trailing), want);
  // variant indices ({10: 5} is WebSocketClose(5)) and other variants
  assertEquals(readHttpServerAction(Uint8Array.fromHex("810a05")), {
    tag: "WebSocketClose",
    channelId: 5,
  });
  assertEquals(
    readHttpServerAction(encode({ WebSocketPush: { channel_id: 3, message_type: "Text" } })),
    { tag: "WebSocketPush", channelId: 3, messageType: "Text" },
  );
  assertEquals(
    readHttpServerAction(encode({ WebSocketPush: { channel_id: 3, message_type: 1 } })),
    { tag: "WebSocketPush", channelId: 3, messageType: "Binary" },
  );
  // not an HttpServerAction
  for (
    const bad of [
      new Uint8Array([0xc1]),
      encode("WebSocketExtPushData"),
      encode({ WebSocketExtPushData: { id: 77, hyperware_message_type: "Request" } }),
      encode({ WebSocketExtPushData: [77, "Request"] }),
      encode({ WebSocketExtPushData: [-1, "Request", [1]] }),
      encode({ WebSocketExtPushData: [77, "Maybe", [1]] }),
      encode({ WebSocketClose: 4294967296 }),
      encode({ Nope: 1 }),
      encode({ WebSocketClose: 1, Unbind: { path: "/" } }),
    ]
  ) {
    let threw = false;
    try {
      readHttpServerAction(bad);
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad.toHex());
  }
});

Deno.test("wire/http_server: RpcMessage as kit sends it; optional fields may be absent", () => {
  assertEquals(parseRpcMessage(utf8('{"process":"a:b:c"}')), {
    node: null,
    process: "a:b:c",
    inherit: null,
    expects_response: null,
    body: null,
    metadata: null,
    context: null,
    mime: null,
    data: null,
  });
  assertEquals(
    parseRpcMessage(
      utf8(
        '{"node":"n.os","process":"a:b:c","inherit":true,"expects_response":18446744073709551615,' +
          '"body":"{}","metadata":"m","context":null,"mime":"text/plain","data":"AQI="}',
      ),
    ),
    {
      node: "n.os",
      process: "a:b:c",
      inherit: true,
      expects_response: 18446744073709551615n,
      body: "{}",
      metadata: "m",
      context: null,
      mime: "text/plain",
      data: "AQI=",
    },
  );
  for (
    const bad of [
      "[]",
      '{"node":"n.os"}',
      '{"process":1}',
      '{"process":"a:b:c","expects_response":-1}',
      '{"process":"a:b:c","expects_response":"5"}',
      '{"process":"a:b:c","inherit":"yes"}',
      '{"process":"a:b:c","data":[1]}',
    ]
  ) {
    let threw = false;
    try {
      parseRpcMessage(utf8(bad));
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad);
  }
});

Deno.test("wire/http_server: HttpServerRequest::Http JSON is JSON.stringify's, field for field", () => {
  const cases: IncomingHttpRequest[] = [
    {
      source_socket_addr: "127.0.0.1:40000",
      method: "GET",
      url: "http://localhost/app:pkg:pub.os/api",
      bound_path: "/app:pkg:pub.os/api",
      headers: { host: "localhost:8080" },
      url_params: {},
      query_params: {},
    },
    {
      source_socket_addr: null,
      method: "POST",
      url: 'http://h/a:b:c/"q\\uote"/\u00e9\u2028',
      bound_path: "/a:b:c/:id",
      headers: { "x-a": 'va"l\\ue', cookie: "k=v; \u00ff", "x-\u0001": "\t" },
      url_params: { id: "\ud83d\ude00", "": "empty name" },
      query_params: { "a b": "c&d", "\u0000": "\ud800" },
    },
  ];
  for (const r of cases) {
    assertEquals(httpRequestJson(r), JSON.stringify({ Http: r }));
    // a serde reader sees every field under its own name
    assertEquals(JSON.parse(httpRequestJson(r)), { Http: r });
  }
});
