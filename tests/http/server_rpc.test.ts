// kit's /rpc:distro:sys/message and local_only bindings: loopback only, only
// with exposeLocal, never through a reverse proxy; RpcMessage in, kit's
// response JSON out.

import { assert, assertEquals } from "../assert.ts";
import { type KernelMessage, textDecoder, textEncoder } from "../../wire/core.ts";
import {
  act,
  bindOpenRoot,
  echoProcess,
  expectStatus,
  OUR,
  serverTest,
  setup,
} from "./server_helpers.ts";
import { Inbox, rawRequest } from "./harness.ts";

function kitMessage(fields: Record<string, unknown>): string {
  // the JSON kit's inject_message::make_message builds
  return JSON.stringify({
    node: null,
    process: "echo:pkg:pub",
    inherit: false,
    expects_response: 15,
    body: '{"Hello":"there"}',
    metadata: null,
    context: null,
    mime: "application/octet-stream",
    data: btoa("blob bytes"),
    ...fields,
  });
}

/** kit's parse_response: body bytes -> utf8, lazy_load_blob.bytes -> base64 text -> bytes. */
function kitParse(json: { body: number[]; lazy_load_blob: { bytes: number[] } | null }) {
  const body = textDecoder.decode(Uint8Array.from(json.body));
  const blob = json.lazy_load_blob
    ? atob(textDecoder.decode(Uint8Array.from(json.lazy_load_blob.bytes)))
    : null;
  return { body, blob };
}

serverTest("http-server: RPC injects a message and returns kit's response shape", async (s) => {
  const got = new Inbox<KernelMessage>();
  s.k.process("echo:pkg:pub", (km, k) => {
    got.push(km);
    if (km.message.tag === "request" && km.message.val.expectsResponse !== undefined) {
      k.respond(km, { Echoed: textDecoder.decode(km.message.val.body) }, {
        mime: "text/plain",
        bytes: textEncoder.encode("reply blob"),
      });
    }
  });
  const res = await fetch(`${s.base}/rpc:distro:sys/message`, {
    method: "POST",
    body: kitMessage({ metadata: "meta" }),
  });
  assertEquals(res.status, 200);
  const json = await res.json();
  assertEquals(json.lazy_load_blob.mime, "text/plain");
  assertEquals(kitParse(json), {
    body: '{"Echoed":"{\\"Hello\\":\\"there\\"}"}',
    blob: "reply blob",
  });
  const km = await got.next();
  assertEquals(km.source.process.processName, "http-server");
  assertEquals(km.rsvp?.process.processName, "http-server");
  assertEquals(km.target.node, OUR);
  assert(km.message.tag === "request");
  assertEquals(km.message.val.expectsResponse, 15n);
  assertEquals(km.message.val.metadata, "meta");
  assertEquals(textDecoder.decode(km.message.val.body), '{"Hello":"there"}');
  assertEquals(km.lazyLoadBlob?.mime, "application/octet-stream");
  assertEquals(textDecoder.decode(km.lazyLoadBlob!.bytes), "blob bytes");

  // fire and forget: 200 at once, message delivered, to another node if named
  const ff = await fetch(`${s.base}/rpc:distro:sys/message`, {
    method: "POST",
    body: kitMessage({ expects_response: null, data: null }),
  });
  assertEquals(ff.status, 200);
  assertEquals(await ff.text(), "");
  const ffKm = await got.next();
  assertEquals(ffKm.rsvp, undefined);
  assertEquals(ffKm.lazyLoadBlob, undefined);

  // malformed messages
  for (
    const bad of [
      "nope",
      kitMessage({ process: "no-colons" }),
      kitMessage({ expects_response: "soon" }),
    ]
  ) {
    const r = await fetch(`${s.base}/rpc:distro:sys/message`, { method: "POST", body: bad });
    assertEquals(r.status, 400, bad);
    await r.body?.cancel();
  }
}, { exposeLocal: true });

serverTest(
  "http-server: RPC data is base64 as Hyperdrive's STANDARD engine reads it, else no blob",
  async (s) => {
    const got = new Inbox<KernelMessage>();
    s.k.process("echo:pkg:pub", (km) => got.push(km));
    const blobOf = async (data: string) => {
      const r = await fetch(`${s.base}/rpc:distro:sys/message`, {
        method: "POST",
        body: kitMessage({ expects_response: null, data }),
      });
      assertEquals(r.status, 200, data);
      await r.body?.cancel();
      const bytes = (await got.next()).lazyLoadBlob?.bytes;
      return bytes === undefined ? undefined : Array.from(bytes);
    };
    assertEquals(await blobOf("AQI="), [1, 2]);
    assertEquals(await blobOf("+/8="), [0xfb, 0xff]);
    assertEquals(await blobOf(""), []);
    // padding required, no whitespace, no url-safe letters, canonical trailing bits
    for (const bad of ["AQI", "AQ I=", "AQI=\n", "-_8=", "AQJ=", "AQ==AQ==", "A==="]) {
      assertEquals(await blobOf(bad), undefined, JSON.stringify(bad));
    }
  },
  { exposeLocal: true },
);

Deno.test("http-server: local-only paths and RPC need exposeLocal and a direct loopback client", async () => {
  const closed = await setup();
  try {
    const app = echoProcess(closed, "app:pkg:pub");
    await act(closed, app, {
      Bind: { path: "/admin", authenticated: false, local_only: true, cache: false },
    });
    for (const p of ["/app:pkg:pub/admin", "/rpc:distro:sys/message"]) {
      const r = await fetch(`${closed.base}${p}`, { method: "POST", body: kitMessage({}) });
      assertEquals(r.status, 403, p);
      await r.body?.cancel();
    }
  } finally {
    await closed.stop();
  }
  const open = await setup({ exposeLocal: true });
  try {
    const app = echoProcess(open, "app:pkg:pub");
    await act(open, app, {
      Bind: { path: "/admin", authenticated: false, local_only: true, cache: false },
    });
    await expectStatus(fetch(`${open.base}/app:pkg:pub/admin`), 200);
    // a reverse proxy in front means the client is not really local
    for (const h of ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host"]) {
      const r = await fetch(`${open.base}/rpc:distro:sys/message`, {
        method: "POST",
        headers: { [h]: "203.0.113.9" },
        body: kitMessage({}),
      });
      assertEquals(r.status, 403, h);
      await r.body?.cancel();
    }
  } finally {
    await open.stop();
  }
});

function nonLoopbackIpv4(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    ?.address;
}

Deno.test({
  name: "http-server: RPC from a non-loopback address is refused, the server keeps serving",
  ignore: nonLoopbackIpv4() === undefined,
  async fn() {
    const ip = nonLoopbackIpv4()!;
    const s = await setup({ exposeLocal: true, hostname: "0.0.0.0" });
    try {
      const app = echoProcess(s, "app:pkg:pub");
      await bindOpenRoot(s, app);
      const remote = await rawRequest(s.port, {
        hostname: ip,
        method: "POST",
        path: "/rpc:distro:sys/message",
        host: `${ip}:${s.port}`,
        body: kitMessage({}),
      });
      assertEquals(remote.status, 403);
      // public paths still answer that client
      const pub = await rawRequest(s.port, {
        hostname: ip,
        path: "/app:pkg:pub/x",
        host: `${ip}:${s.port}`,
      });
      assertEquals(pub.status, 200);
      assertEquals(JSON.parse(pub.text).request.source_socket_addr.split(":")[0], ip);
    } finally {
      await s.stop();
    }
  },
});
