// http-client as processes built on hyperware_process_lib use it: its
// send_request / send_request_await_response attach the body as a blob on
// every request, GETs included (an empty one when there is no body).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { type KernelMessage, textDecoder, textEncoder } from "../../wire/core.ts";
import { createHttpClient } from "../../modules/http_client/mod.ts";
import { bodyJson, MiniKernel } from "./harness.ts";

interface Seen {
  method: string;
  body: string;
  acceptEncoding: string | null;
}

function startPeer() {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const acceptEncoding = req.headers.get("accept-encoding");
    seen.push({ method: req.method, body, acceptEncoding });
    const text = "compressible ".repeat(64);
    if (new URL(req.url).pathname === "/gz" && acceptEncoding?.includes("gzip")) {
      const gz = new Uint8Array(
        await new Response(
          new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
        ).arrayBuffer(),
      );
      return new Response(gz, {
        headers: { "content-encoding": "gzip", "content-type": "text/plain" },
      });
    }
    return new Response(req.method === "HEAD" ? null : text, {
      headers: { "content-type": "text/plain" },
    });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

async function boot() {
  const k = new MiniKernel("fake.dev");
  k.addModule(createHttpClient());
  await k.start();
  const app = k.process("app:pkg:pub", () => {});
  const client = k.addr("http-client:distro:sys");
  return { k, app, client };
}

type HttpOk = { Ok: { Http: { status: number; headers: Record<string, string> } } };

Deno.test("http-client: GET and HEAD with process_lib's empty body blob are sent", async () => {
  const peer = startPeer();
  const { k, app, client } = await boot();
  try {
    for (const method of ["GET", "HEAD", "DELETE"]) {
      const res = await k.request(app, client, {
        Http: { method, version: null, url: `${peer.base}/x`, headers: {} },
      }, { expectsResponse: 5, blob: { bytes: new Uint8Array(0) } }) as KernelMessage;
      const body = bodyJson(res) as HttpOk;
      assert("Ok" in body, `${method}: ${JSON.stringify(body)}`);
      assertEquals(body.Ok.Http.status, 200);
      assertEquals(
        textDecoder.decode(res.lazyLoadBlob!.bytes),
        method === "HEAD" ? "" : "compressible ".repeat(64),
      );
    }
    assertEquals(peer.seen.map((s) => s.method), ["GET", "HEAD", "DELETE"]);

    // a GET body with bytes in it cannot be sent by fetch: a clear error, not a silent drop
    const withBody = bodyJson(
      await k.request(app, client, {
        Http: { method: "GET", version: null, url: `${peer.base}/x`, headers: {} },
      }, { expectsResponse: 5, blob: { bytes: textEncoder.encode("query") } }),
    ) as { Err: { BuildRequestFailed: string } };
    assertMatch(withBody.Err.BuildRequestFailed, /GET/);
    assertEquals(peer.seen.length, 3);
  } finally {
    await k.stop();
    await peer.close();
  }
});

Deno.test("http-client: compressed responses: the body and the headers the process gets agree", async () => {
  const peer = startPeer();
  const { k, app, client } = await boot();
  const text = "compressible ".repeat(64);
  const get = async (headers: Record<string, string>) => {
    const res = await k.request(app, client, {
      Http: { method: "GET", version: null, url: `${peer.base}/gz`, headers },
    }, { expectsResponse: 5 }) as KernelMessage;
    const body = bodyJson(res) as HttpOk;
    return { headers: body.Ok.Http.headers, bytes: res.lazyLoadBlob!.bytes };
  };
  try {
    // Hyperdrive's reqwest offers no encoding: the server answers plain
    const plain = await get({});
    assert(!peer.seen[0].acceptEncoding?.includes("gzip"), String(peer.seen[0].acceptEncoding));
    assertEquals(plain.headers["Content-Encoding"], undefined);
    assertEquals(textDecoder.decode(plain.bytes), text);
    assertEquals(plain.headers["Content-Length"], String(plain.bytes.length));

    // the process asks for gzip itself; fetch decodes it, so no header may still say gzip
    const asked = await get({ "Accept-Encoding": "gzip" });
    assertEquals(peer.seen[1].acceptEncoding, "gzip");
    assertEquals(asked.headers["Content-Encoding"], undefined);
    assertEquals(textDecoder.decode(asked.bytes), text);
    const length = asked.headers["Content-Length"];
    assert(length === undefined || length === String(asked.bytes.length), `length ${length}`);
  } finally {
    await k.stop();
    await peer.close();
  }
});
