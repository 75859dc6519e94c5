// http-server details a Hyperdrive app or kit can observe, pinned to what
// Hyperdrive's warp-based server does.

import { assertEquals } from "../assert.ts";
import { textEncoder } from "../../kernel/types.ts";
import { act, setup } from "./server_helpers.ts";
import { bodyJson } from "./harness.ts";

Deno.test("http-server: a process response without Content-Type is application/octet-stream", async () => {
  const s = await setup();
  try {
    // warp sends a Vec<u8> body as application/octet-stream; the process's headers replace it
    const app = s.k.process("typed:pkg:pub", (km, k) => {
      if (km.message.tag !== "request") return;
      const url = (bodyJson(km) as { Http?: { url: string } }).Http?.url ?? "";
      const headers: Record<string, string> = url.endsWith("/html")
        ? { "Content-Type": "text/html" }
        : url.endsWith("/lower")
        ? { "content-type": "application/json" }
        : { "x-other": "1" };
      k.respond(km, { status: 200, headers }, { bytes: textEncoder.encode("<p>x</p>") });
    });
    await act(s, app, {
      Bind: { path: "/", authenticated: false, local_only: false, cache: false },
    });
    for (
      const [path, type] of [
        ["bare", "application/octet-stream"],
        ["html", "text/html"],
        ["lower", "application/json"],
      ]
    ) {
      const res = await fetch(`${s.base}/typed:pkg:pub/${path}`);
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), type, path);
      assertEquals(await res.text(), "<p>x</p>");
    }
  } finally {
    await s.stop();
  }
});
