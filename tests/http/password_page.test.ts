// The boot-time password page: first boot sets the password and creates the
// keyfile; later boots must unlock it with the same password.

import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { promptPasswordInBrowser } from "../../modules/http_server/mod.ts";
import {
  encodeKeyfile,
  generateKeyfile,
  hashPassword,
  type LoadedKeyfile,
  readKeyfile,
} from "../../modules/keyfile/mod.ts";

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

Deno.test("password page: Hyperdrive's /import-keyfile and /login, checked by `verify` first", async () => {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-pwpage-" });
  try {
    const kf = generateKeyfile("zed.os");
    const hash = await hashPassword("zed password", "zed.os");
    const bytes = await encodeKeyfile(kf, hash);
    const checked: string[] = [];
    let agree = false;
    const verify = (loaded: LoadedKeyfile) => {
      checked.push(`${loaded.keyfile.username} imported=${loaded.imported === true}`);
      if (!agree) return Promise.reject(new Error("Networking key from PKI (0x01) does not match"));
      return Promise.resolve({ ip: "127.0.0.1", ports: { ws: 9999 } });
    };
    // a new home on a fake node's chain with no name to mint: only the import form
    const p = await promptPasswordInBrowser({
      home,
      port: 0,
      hostname: "127.0.0.1",
      importOnly: true,
      verify,
    });
    const page = await fetch(p.url);
    assertEquals(page.headers.get("x-hyperdeno-boot-page"), "1");
    assertMatch(await page.text(), /<form id="import-form" class="">/);
    // success is Hyperdrive's 302 with a body and no Location: read it, do not follow
    const post = (path: string, body: unknown) =>
      fetch(`${p.url}${path.slice(1)}`, {
        method: "POST",
        body: JSON.stringify(body),
        redirect: "manual",
      });
    const expect = async (res: Response, status: number, body: unknown) => {
      assertEquals([res.status, await res.json()], [status, body]);
    };
    await expect(
      await post("/boot", { password_hash: hash }),
      409,
      "No node to set a password for here: import an existing node's keyfile",
    );
    await expect(await post("/login", { password_hash: hash }), 404, "Keyfile not present");
    await expect(
      await post("/import-keyfile", { keyfile: "not base64!", password_hash: hash }),
      400,
      "Keyfile not valid base64",
    );
    await expect(
      await post("/import-keyfile", { keyfile: bytes.toBase64(), password_hash: "0x00" }),
      401,
      "Incorrect password!",
    );
    // the chain disagrees: its message, nothing written, the page still waits
    await expect(
      await post("/import-keyfile", { keyfile: bytes.toBase64(), password_hash: hash }),
      500,
      "Networking key from PKI (0x01) does not match",
    );
    assertEquals([...Deno.readDirSync(home)], []);
    // Hyperdrive's own page posts the file's text, not base64: taken too
    agree = true;
    const ok = await post("/import-keyfile", {
      keyfile: new TextDecoder().decode(bytes),
      password_hash: hash,
    });
    assertEquals(ok.status, 302);
    assertEquals(await ok.json(), bytes.toBase64());
    assertMatch(ok.headers.get("set-cookie")!, /^hyperware-auth_zed\.os=[\w-]+\.[\w-]+\.[\w-]+; /);
    const result = await p.done;
    assert(result.imported && !result.created);
    assertEquals(result.encoded, bytes);
    assertEquals(result.keyfile, kf);
    assertEquals(result.chainRouting, { ip: "127.0.0.1", ports: { ws: 9999 } });
    assertEquals(checked, ["zed.os imported=true", "zed.os imported=true"]);
    // written by the boot, once it is sure: not by the page
    assertEquals(await readKeyfile(home), undefined);

    // a home holding a keyfile: /login unlocks it (checked too); no import over it
    await Deno.writeFile(`${home}/.keys`, bytes);
    agree = false;
    const q = await promptPasswordInBrowser({ home, port: 0, hostname: "127.0.0.1", verify });
    assertMatch(await (await fetch(q.url)).text(), /Unlock zed\.os/);
    const postQ = (path: string, body: unknown) =>
      fetch(`${q.url}${path.slice(1)}`, {
        method: "POST",
        body: JSON.stringify(body),
        redirect: "manual",
      });
    await expect(
      await postQ("/import-keyfile", { keyfile: bytes.toBase64(), password_hash: hash }),
      409,
      "This home already holds a keyfile: unlock it instead",
    );
    await expect(await postQ("/login", { password_hash: "0x00" }), 401, "Incorrect password!");
    await expect(
      await postQ("/login", { password_hash: hash }),
      500,
      "Networking key from PKI (0x01) does not match",
    );
    agree = true;
    const in2 = await postQ("/login", { password_hash: hash });
    assertEquals([in2.status, await in2.json()], [302, bytes.toBase64()]);
    const r2 = await q.done;
    assert(!r2.imported && !r2.created);
    assertEquals(r2.chainRouting, { ip: "127.0.0.1", ports: { ws: 9999 } });
    assertEquals(await readKeyfile(home), bytes);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("password page: no import into a home another node booted in", async () => {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-pwpage-" });
  try {
    await Deno.writeTextFile(`${home}/.node-name`, "fake.dev");
    const hash = await hashPassword("pw pw pw", "other.os");
    const bytes = await encodeKeyfile(generateKeyfile("other.os"), hash);
    const p = await promptPasswordInBrowser({
      home,
      our: "fake.dev",
      port: 0,
      hostname: "127.0.0.1",
    });
    // the first boot's page offers both: set a password, or import
    const main = await (await fetch(p.url)).text();
    assertMatch(main, /Set a password for fake\.dev/);
    assertMatch(main, /href="\/import-keyfile"/);
    assertMatch(
      await (await fetch(`${p.url}import-keyfile`)).text(),
      /<form id="import-form" class="">/,
    );
    const res = await fetch(`${p.url}import-keyfile`, {
      method: "POST",
      body: JSON.stringify({ keyfile: bytes.toBase64(), password_hash: hash }),
    });
    assertEquals([res.status, await res.json()], [
      409,
      "This home belongs to fake.dev, not other.os",
    ]);
    assertEquals(await readKeyfile(home), undefined);
    await p.close();
    await assertRejects(() => p.done, "password prompt closed");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
