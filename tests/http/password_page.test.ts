// The boot-time password page: first boot sets the password and creates the
// keyfile; later boots must unlock it with the same password.

import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { promptPasswordInBrowser } from "../../modules/http_server/mod.ts";
import { hashPassword, readKeyfile } from "../../modules/keyfile/mod.ts";

Deno.test("password page: creates the keyfile on first boot, unlocks it afterwards", async () => {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-pwpage-" });
  try {
    const first = await promptPasswordInBrowser({
      home,
      our: "fake.dev",
      port: 0,
      hostname: "127.0.0.1",
    });
    const page = await (await fetch(first.url)).text();
    assertMatch(page, /Set a password for fake\.dev/);
    const hash = await hashPassword("first password", "fake.dev");
    const set = await fetch(`${first.url}boot`, {
      method: "POST",
      body: JSON.stringify({ password_hash: hash }),
    });
    assertEquals(await set.json(), "ok");
    const created = await first.done;
    assert(created.created);
    assertEquals(await readKeyfile(home), created.encoded);

    const second = await promptPasswordInBrowser({ home, port: 0, hostname: "127.0.0.1" });
    assertMatch(await (await fetch(second.url)).text(), /Unlock fake\.dev/);
    const wrong = await fetch(`${second.url}boot`, {
      method: "POST",
      body: JSON.stringify({ password_hash: await hashPassword("guess", "fake.dev") }),
    });
    assertEquals(wrong.status, 401);
    assertEquals(await wrong.json(), "Failed to decode keyfile: failed to decrypt networking keys");
    const bad = await fetch(`${second.url}boot`, { method: "POST", body: "{" });
    assertEquals(bad.status, 400);
    await bad.body?.cancel();
    const right = await fetch(`${second.url}boot`, {
      method: "POST",
      body: JSON.stringify({ password_hash: hash }),
    });
    assertEquals(right.status, 200);
    await right.body?.cancel();
    const opened = await second.done;
    assert(!opened.created);
    assertEquals(opened.keyfile, created.keyfile);

    const third = await promptPasswordInBrowser({ home, port: 0, hostname: "127.0.0.1" });
    await third.close();
    await assertRejects(() => third.done, "password prompt closed");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
