// wire/http_client.ts on its own: HttpClientAction from serde JSON as
// Hyperdrive's client_types.rs spells it, and what is refused.

import { assertEquals } from "../assert.ts";
import { type HttpClientAction, parseHttpClientAction } from "../../wire/http_client.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("wire/http_client: every HttpClientAction variant from serde JSON", () => {
  const cases: [string, HttpClientAction][] = [
    [
      '{"Http":{"method":"GET","version":null,"url":"http://a/","headers":{"X-A":"1"}}}',
      {
        tag: "Http",
        request: { method: "GET", version: null, url: "http://a/", headers: { "X-A": "1" } },
      },
    ],
    // Option<String>: absent is None
    [
      '{"Http":{"method":"PUT","url":"http://a/","headers":{}}}',
      { tag: "Http", request: { method: "PUT", version: null, url: "http://a/", headers: {} } },
    ],
    [
      '{"Http":{"method":"GET","version":"HTTP/1.1","url":"u","headers":{}}}',
      { tag: "Http", request: { method: "GET", version: "HTTP/1.1", url: "u", headers: {} } },
    ],
    [
      '{"WebSocketOpen":{"url":"ws://a/","headers":{},"channel_id":4294967295}}',
      { tag: "WebSocketOpen", url: "ws://a/", headers: {}, channelId: 4294967295 },
    ],
    [
      '{"WebSocketPush":{"channel_id":3,"message_type":"Close"}}',
      { tag: "WebSocketPush", channelId: 3, messageType: "Close" },
    ],
    ['{"WebSocketClose":{"channel_id":0}}', { tag: "WebSocketClose", channelId: 0 }],
  ];
  for (const [text, want] of cases) assertEquals(parseHttpClientAction(utf8(text)), want, text);
});

Deno.test("wire/http_client: anything else throws", () => {
  for (
    const bad of [
      "",
      "[]",
      '"Http"',
      '{"Nonsense":{}}',
      '{"Http":{"method":"GET","url":"u"}}',
      '{"Http":{"method":"GET","url":"u","headers":{"a":1}}}',
      '{"Http":{"method":"GET","version":2,"url":"u","headers":{}}}',
      '{"WebSocketOpen":{"url":"ws://a/","headers":{},"channel_id":-1}}',
      '{"WebSocketPush":{"channel_id":3,"message_type":"Loud"}}',
      '{"WebSocketClose":3}',
      '{"WebSocketClose":{"channel_id":4294967296}}',
      '{"WebSocketClose":{"channel_id":1},"Http":{}}',
    ]
  ) {
    let threw = false;
    try {
      parseHttpClientAction(utf8(bad));
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad);
  }
  // invalid UTF-8, which serde_json refuses
  let threw = false;
  try {
    parseHttpClientAction(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
  } catch {
    threw = true;
  }
  assertEquals(threw, true);
});
