// http-server and http-client in a booted node, against a real process (the
// webapp fixture in a Worker) that bound its paths through the kernel.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { hashPassword } from "../../modules/keyfile/mod.ts";
import { bootHttpNode, NODE_NAME, WEBAPP } from "./node_helpers.ts";
import { rawRequest } from "./harness.ts";

const PASSWORD = "node password 1";

async function withHome<T>(f: (home: string) => Promise<T>): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-http-" });
  try {
    return await f(home);
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

Deno.test("node: a process's bindings serve HTTP, static files, login and WebSockets", async () => {
  await withHome(async (home) => {
    const n = await bootHttpNode(home, { password: PASSWORD });
    try {
      // dynamic, answered by the process through kernel and worker
      const api = await fetch(`${n.base}/${WEBAPP}/api?q=1`, { method: "POST", body: "hi" });
      assertEquals(api.status, 200);
      assertEquals(await api.json(), {
        method: "POST",
        bound_path: `/${WEBAPP}/api`,
        query: { q: "1" },
        body: "hi",
      });
      // cached by http-server
      const st = await fetch(`${n.base}/${WEBAPP}/static.txt`);
      assertEquals(await st.text(), "static from webapp");
      // the authenticated UI needs a login
      const page = await fetch(`${n.base}/${WEBAPP}/`, {
        headers: { accept: "text/html" },
        redirect: "manual",
      });
      assertEquals(page.status, 302);
      await page.body?.cancel();
      const login = await fetch(`${n.base}/login`, {
        method: "POST",
        body: JSON.stringify({
          password_hash: await hashPassword(PASSWORD, NODE_NAME),
          subdomain: "",
        }),
      });
      assertEquals(login.status, 200);
      await login.body?.cancel();
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      const ui = await fetch(`${n.base}/${WEBAPP}/`, { headers: { cookie } });
      assertEquals(ui.status, 200);
      assertMatch(await ui.text(), /window\.our\.node/);
      // the app's SecureBind redirects to its subdomain
      const sec = await rawRequest(n.port, {
        path: `/${WEBAPP}/secure`,
        host: `localhost:${n.port}`,
      });
      assertEquals(sec.status, 307);
      assertEquals(
        sec.headers.get("location"),
        `http://webapp-test-os.localhost:${n.port}/${WEBAPP}/secure`,
      );

      // WebSocket: greeting on open, echo of pushes
      const ws = new WebSocket(`ws://127.0.0.1:${n.port}/${WEBAPP}/ws`);
      const got: string[] = [];
      const two = new Promise<void>((resolve) => {
        ws.onmessage = (e) => {
          got.push(String(e.data));
          if (got.length === 1) ws.send("ping");
          if (got.length === 2) resolve();
        };
      });
      const timeout = setTimeout(() => ws.close(), 10_000);
      await two;
      clearTimeout(timeout);
      assertEquals(got, ["welcome", "echo: ping"]);
      const closed = new Promise((r) => ws.onclose = r);
      ws.close();
      await closed;
    } finally {
      await n.stop();
    }
  });
});

Deno.test("node: kit's RPC reaches the process; the process uses http-client", async () => {
  await withHome(async (home) => {
    const n = await bootHttpNode(home, { password: PASSWORD });
    try {
      const rpc = await fetch(`${n.base}/rpc:distro:sys/message`, {
        method: "POST",
        body: JSON.stringify({
          node: null,
          process: WEBAPP,
          inherit: false,
          expects_response: 5,
          body: "hello from kit",
          metadata: null,
          context: null,
          mime: "application/octet-stream",
          data: btoa("kit blob"),
        }),
      });
      assertEquals(rpc.status, 200);
      const json = await rpc.json();
      assertEquals(
        new TextDecoder().decode(Uint8Array.from(json.body)),
        '{"echo":"hello from kit"}',
      );
      assertEquals(
        atob(new TextDecoder().decode(Uint8Array.from(json.lazy_load_blob.bytes))),
        "kit blob",
      );

      // the process asks http-client to GET the node's own static file
      const res = await n.node.request(
        `${NODE_NAME}@${WEBAPP}`,
        JSON.stringify({
          fetch: `${n.base}/${WEBAPP}/static.txt`,
        }),
        { timeoutSeconds: 10 },
      );
      const body = JSON.parse(new TextDecoder().decode(res.body));
      assertEquals(body.Ok.Http.status, 200);
      assertEquals(body.Ok.Http.headers["Content-Type"], "text/plain");
      assert(res.blob);
      assertEquals(new TextDecoder().decode(res.blob.bytes), "static from webapp");
    } finally {
      await n.stop();
    }
  });
});

Deno.test("node: the keyfile made at first boot needs the same password at the next", async () => {
  await withHome(async (home) => {
    const first = await bootHttpNode(home, { password: PASSWORD });
    await first.stop();
    let refused = "";
    try {
      const wrong = await bootHttpNode(home, { password: "not it at all" });
      await wrong.stop();
    } catch (e) {
      refused = (e as Error).message;
    }
    assertEquals(refused, "failed to decrypt networking keys");
    const again = await bootHttpNode(home, { password: PASSWORD });
    try {
      const st = await fetch(`${again.base}/${WEBAPP}/static.txt`);
      assertEquals(await st.text(), "static from webapp");
    } finally {
      await again.stop();
    }
  });
});
