// new --ui: the chat template with its web UI, built and installed: the page is served at
// /<process id>/, GET /messages lists the chats, POST /messages sends (kit's Send body), and a
// logged-out request is refused.

import { assert, assertEquals } from "../assert.ts";
import { bootSdkNode } from "../sdk/helpers.ts";
import { buildPackage } from "../../kit/build.ts";
import { newPackage } from "../../kit/new.ts";
import { collector, withTempDir } from "./helpers.ts";

const CHAT = "ui-chat:ui-chat:template.os";

Deno.test({
  name: "new --ui: the chat UI is served and its HTTP API answers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (dir) => {
      const app = `${dir}/ui-chat`;
      await newPackage({ dir: app, ui: true });
      await buildPackage({ dir: app, log: collector().log });
      const zip = await Deno.readFile(`${app}/target/ui-chat:template.zip`);
      assert(zip.length > 0);
      const node = await bootSdkNode(`${dir}/home`, "fake.os", { http: true });
      try {
        await node.installPackage(app);
        const base = `${node.httpUrl}/${CHAT}`;
        const headers = { cookie: node.cookie! };
        // the app is up once it answers
        assertEquals(await node.ask(`our@${CHAT}`, { History: "x.os" }, 60), { History: [] });
        const page = await fetch(`${base}/`, { headers });
        assertEquals(page.status, 200);
        assert((await page.text()).includes("<h1>ui-chat</h1>"));
        const post = await fetch(`${base}/messages`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ Send: { target: "fake.os", message: "note to self" } }),
        });
        assertEquals([post.status, await post.json()], [200, "Send"]);
        const list = await fetch(`${base}/messages`, { headers });
        assertEquals(await list.json(), [
          { node: "fake.os", messages: [{ author: "fake.os", content: "note to self" }] },
        ]);
        const anonymous = await fetch(`${base}/messages`);
        await anonymous.body?.cancel();
        assert(anonymous.status !== 200, `logged out: ${anonymous.status}`);
      } finally {
        await node.shutdown();
      }
    });
  },
});
