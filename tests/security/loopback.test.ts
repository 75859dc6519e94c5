// An installed app with the http-client capability must not get root through the
// node's own HTTP server. Requests http-client sends carry a tag that http-server
// reads (and removes): they are never "from this machine", so local-only paths,
// kit's RPC and extension WebSockets refuse them however the URL names this host
// (127.0.0.1, another 127/8 address, localhost, 0.0.0.0, [::1], an interface's
// address, a redirect from elsewhere). A client really on this machine still gets in.

import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { bootSecNode, json, type Outcome, PROBER } from "./helpers.ts";

const CLIENT = "our@http-client:distro:sys";

function httpGet(url: string, headers: Record<string, string> = {}) {
  return {
    target: CLIENT,
    body: JSON.stringify({ Http: { method: "GET", version: null, url, headers } }),
    timeout: 5,
  };
}

/** The HTTP status an http-client answer carries, or its error. */
function statusOf(o: Outcome): number | string {
  const r = json(o.ok?.body) as { Ok?: { Http: { status: number } }; Err?: unknown } | null;
  if (r?.Ok) return r.Ok.Http.status;
  return JSON.stringify(r?.Err ?? o.err);
}

function interfaceAddresses(): string[] {
  try {
    return Deno.networkInterfaces()
      .filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
      .map((i) => i.address);
  } catch {
    return [];
  }
}

Deno.test("loopback rule: an app's http-client requests to its own node are not local", async (t) => {
  await withTempDir(async (root) => {
    const alice = await bootSecNode(`${root}/alice`, "alice.os", { http: true });
    // a server elsewhere that redirects wherever it is told (307 keeps a POST a POST)
    const redirector = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => {
        const to = new URL(req.url).searchParams.get("to")!;
        return new Response(null, { status: 307, headers: { location: to } });
      },
    );
    try {
      const port = Number(new URL(alice.node.httpUrl!).port);
      assertEquals(
        await alice.httpServer({
          Bind: { path: "/local", authenticated: false, local_only: true, cache: false },
        }),
        { Ok: null },
      );
      assertEquals(
        await alice.httpServer({
          Bind: { path: "/open", authenticated: false, local_only: false, cache: false },
        }),
        { Ok: null },
      );
      assertEquals(
        await alice.httpServer({
          WebSocketBind: { path: "/ext", authenticated: false, extension: true },
        }),
        { Ok: null },
      );
      const path = `/${PROBER}/local`;
      const redirect = (to: string) =>
        `http://127.0.0.1:${redirector.addr.port}/go?to=${encodeURIComponent(to)}`;

      await t.step("a client on this machine reads local-only paths (--expose-local)", async () => {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        assertEquals(r.status, 200);
        assertEquals((await r.json()).secret, "secret of alice.os");
      });

      await t.step("the app's own requests, however they name this host, are refused", async () => {
        const urls = [
          `http://127.0.0.1:${port}${path}`,
          `http://127.0.0.2:${port}${path}`,
          `http://localhost:${port}${path}`,
          `http://0.0.0.0:${port}${path}`,
          `http://[::1]:${port}${path}`,
          `http://[::ffff:127.0.0.1]:${port}${path}`,
          `http://2130706433:${port}${path}`,
          redirect(`http://127.0.0.1:${port}${path}`),
          ...interfaceAddresses().map((a) => `http://${a}:${port}${path}`),
        ];
        const outcomes = await alice.probe(urls.map((u) => httpGet(u)));
        outcomes.forEach((o, i) => {
          const status = statusOf(o);
          assert(status !== 200, `${urls[i]} answered 200: ${o.ok?.blob}`);
          assert(!(o.ok?.blob ?? "").includes("secret"), `${urls[i]} leaked the body`);
        });
        // the plain loopback one is refused by the rule (not by luck of the network)
        assertEquals(statusOf(outcomes[0]), 403);
        assertEquals(statusOf(outcomes[7]), 403, "through a redirect");
      });

      await t.step("kit's RPC is refused to the app, directly and through a redirect", async () => {
        const rpc = JSON.stringify({
          process: PROBER,
          node: null,
          body: JSON.stringify({
            op: "http-server",
            action: {
              Bind: { path: "/via-rpc", authenticated: false, local_only: false, cache: false },
            },
          }),
          expects_response: 5,
        });
        const post = (url: string) => ({
          target: CLIENT,
          body: JSON.stringify({
            Http: {
              method: "POST",
              version: null,
              url,
              headers: { "Content-Type": "application/json" },
            },
          }),
          blob: rpc,
          timeout: 5,
        });
        const rpcUrl = `http://127.0.0.1:${port}/rpc:distro:sys/message`;
        const outcomes = await alice.probe([post(rpcUrl), post(redirect(rpcUrl))]);
        assertEquals(outcomes.map(statusOf), [403, 403]);
        const r = await fetch(`http://127.0.0.1:${port}/${PROBER}/via-rpc`);
        assertEquals(r.status, 404, "the RPC never ran");
        await r.body?.cancel();
      });

      await t.step("an extension WebSocket is refused to the app", async () => {
        const [ws] = await alice.probe([{
          target: CLIENT,
          body: JSON.stringify({
            WebSocketOpen: {
              url: `ws://127.0.0.1:${port}/${PROBER}/ext`,
              headers: {},
              channel_id: 1,
            },
          }),
          timeout: 5,
        }]);
        assertEquals(json(ws.ok?.body), {
          Err: { WsOpenFailed: { url: `ws://127.0.0.1:${port}/${PROBER}/ext` } },
        });
      });

      await t.step("ordinary paths still work, and the tag never reaches a process", async () => {
        // the app tries to forge or hide the tag itself
        const [plain, forged] = await alice.probe([
          httpGet(`http://127.0.0.1:${port}/${PROBER}/open`),
          httpGet(`http://127.0.0.1:${port}/${PROBER}/open`, {
            "X-Hyperdeno-Http-Client": "0",
            "Connection": "X-Hyperdeno-Http-Client",
          }),
        ]);
        for (const o of [plain, forged]) {
          assertEquals(statusOf(o), 200);
          const seen = (json(o.ok?.blob) as { headers: Record<string, string> }).headers;
          assertEquals(Object.keys(seen).filter((h) => h.startsWith("x-hyperdeno")), []);
        }
        const [forgedLocal] = await alice.probe([
          httpGet(`http://127.0.0.1:${port}${path}`, {
            "X-Hyperdeno-Http-Client": "0",
            "Connection": "close, X-Hyperdeno-Http-Client",
          }),
        ]);
        assertEquals(statusOf(forgedLocal), 403);
      });
    } finally {
      await redirector.shutdown();
      await alice.stop();
    }
  });
});
