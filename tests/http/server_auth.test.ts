// Login and authentication over real HTTP: the keyfile decides the password,
// the JWT cookie opens authenticated paths, and forged, expired or foreign
// tokens are refused; secure subdomains as Hyperdrive scopes them.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { encodeKeyfile, generateKeyfile, hashPassword } from "../../modules/keyfile/mod.ts";
import { generateJwt, importJwtKey } from "../../modules/http_server/mod.ts";
import { act, echoProcess, OUR, type Setup, setup } from "./server_helpers.ts";
import { rawRequest } from "./harness.ts";

const PASSWORD = "correct horse battery";

async function withKeyfile(): Promise<Setup & { keyfileBytes: Uint8Array; hash: string }> {
  const kf = generateKeyfile(OUR);
  const hash = await hashPassword(PASSWORD, OUR);
  const keyfileBytes = await encodeKeyfile(kf, hash);
  const s = await setup({ jwtSecret: kf.jwtSecret, encodedKeyfile: keyfileBytes });
  return { ...s, keyfileBytes, hash };
}

async function bindSecret(s: Setup): Promise<void> {
  const app = echoProcess(s, "app:pkg:pub");
  await act(s, app, {
    Bind: { path: "/secret", authenticated: true, local_only: false, cache: false },
  });
}

async function status(res: Response): Promise<number> {
  await res.body?.cancel();
  return res.status;
}

Deno.test("http-server: authenticated paths need the cookie: 401 for APIs, redirect to /login for pages", async () => {
  const s = await withKeyfile();
  try {
    await bindSecret(s);
    const api = await fetch(`${s.base}/app:pkg:pub/secret`);
    assertEquals(api.status, 401);
    assertMatch(await api.text(), /log in at \/login/);
    const page = await fetch(`${s.base}/app:pkg:pub/secret?a=1`, {
      headers: { accept: "text/html,*/*" },
      redirect: "manual",
    });
    assertEquals(page.status, 302);
    assertEquals(
      page.headers.get("location"),
      `/login?redirect=${encodeURIComponent("/app:pkg:pub/secret?a=1")}`,
    );
    await page.body?.cancel();
    const login = await fetch(`${s.base}/login`);
    const html = await login.text();
    assertEquals(login.headers.get("content-type"), "text/html; charset=utf-8");
    assert(html.includes(`"${OUR}"`) && html.includes("hashwasm.argon2id"), "login page content");
  } finally {
    await s.stop();
  }
});

Deno.test("http-server: POST /login with the right hash sets hyperware-auth_<node>; wrong hash does not", async () => {
  const s = await withKeyfile();
  try {
    await bindSecret(s);
    const wrong = await fetch(`${s.base}/login`, {
      method: "POST",
      body: JSON.stringify({
        password_hash: await hashPassword("not the password", OUR),
        subdomain: "",
      }),
    });
    assertEquals(wrong.status, 500);
    assertEquals(await wrong.json(), "Failed to decode keyfile: failed to decrypt networking keys");
    assertEquals(wrong.headers.get("set-cookie"), null);

    const ok = await fetch(`${s.base}/login`, {
      method: "POST",
      body: JSON.stringify({ password_hash: s.hash, subdomain: "" }),
    });
    assertEquals(ok.status, 200);
    const cookie = ok.headers.get("set-cookie")!;
    const sent = cookie.split(";")[0].split("=")[1];
    // one Set-Cookie header, its attributes in it (browsers ignore HttpOnly etc. as headers)
    assertEquals(
      cookie,
      `hyperware-auth_${OUR}=${sent}; domain=.127.0.0.1; HttpOnly; SameSite=Strict`,
    );
    assertMatch(sent, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    for (const stray of ["httponly", "secure", "samesite"]) {
      assertEquals(ok.headers.get(stray), null, stray);
    }
    // body: the keyfile, base64
    const b64 = await ok.json();
    assertEquals(atob(b64), new TextDecoder("latin1").decode(s.keyfileBytes));
    // the token's claims are Hyperdrive's
    const token = cookie.split(";")[0].split("=")[1];
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    assertEquals(Object.keys(claims), ["username", "subdomain", "expiration"]);
    assertEquals(claims.username, OUR);
    assertEquals(claims.subdomain, null);
    const weeks = (claims.expiration - Date.now() / 1000) / (7 * 24 * 3600);
    assert(weeks > 25.9 && weeks < 26.1, `expiration ${weeks} weeks`);

    const authed = await fetch(`${s.base}/app:pkg:pub/secret`, {
      headers: { cookie: `other=1; ${cookie.split(";")[0]}` },
    });
    assertEquals(authed.status, 200);
    assertEquals((await authed.json()).request.bound_path, "/app:pkg:pub/secret");

    // malformed and oversized login bodies
    assertEquals(await status(await fetch(`${s.base}/login`, { method: "POST", body: "{" })), 400);
    assertEquals(
      await status(await fetch(`${s.base}/login`, { method: "POST", body: "x".repeat(17 * 1024) })),
      413,
    );
    // redirect after login: same-origin paths only
    const redir = await fetch(`${s.base}/login?redirect=/app:pkg:pub/secret`, {
      method: "POST",
      body: JSON.stringify({ password_hash: s.hash }),
      redirect: "manual",
    });
    assertEquals(redir.status, 303);
    assertEquals(redir.headers.get("location"), `${s.base}/app:pkg:pub/secret`);
    assertMatch(
      redir.headers.get("set-cookie")!,
      /; domain=\.127\.0\.0\.1; HttpOnly; SameSite=Strict$/,
    );
    await redir.body?.cancel();
    const evil = await fetch(`${s.base}/login?redirect=//evil.example/`, {
      method: "POST",
      body: JSON.stringify({ password_hash: s.hash }),
      redirect: "manual",
    });
    assertEquals(evil.status, 400);
    assertEquals(evil.headers.get("set-cookie"), null);
    await evil.body?.cancel();
  } finally {
    await s.stop();
  }
});

Deno.test("http-server: forged, expired, foreign and mis-scoped tokens are refused", async () => {
  const s = await withKeyfile();
  try {
    await bindSecret(s);
    const ours = await importJwtKey(s.jwtSecret);
    const other = await importJwtKey(crypto.getRandomValues(new Uint8Array(32)));
    const get = async (cookie: string) =>
      await status(await fetch(`${s.base}/app:pkg:pub/secret`, { headers: { cookie } }));
    const good = await generateJwt(ours, OUR);
    assertEquals(await get(`hyperware-auth_${OUR}=${good}`), 200);
    // signed with another secret
    assertEquals(await get(`hyperware-auth_${OUR}=${await generateJwt(other, OUR)}`), 401);
    // payload swapped under a valid signature
    const [h, , sig] = good.split(".");
    const forgedClaims = btoa(JSON.stringify({ username: OUR, subdomain: null, expiration: 9e12 }))
      .replace(/=+$/, "");
    assertEquals(await get(`hyperware-auth_${OUR}=${h}.${forgedClaims}.${sig}`), 401);
    // alg "none"
    const none = btoa('{"alg":"none"}').replace(/=+$/, "");
    assertEquals(await get(`hyperware-auth_${OUR}=${none}.${good.split(".")[1]}.x`), 401);
    // expired
    const old = await generateJwt(ours, OUR, null, Math.floor(Date.now() / 1000) - 27 * 7 * 86400);
    assertEquals(await get(`hyperware-auth_${OUR}=${old}`), 401);
    // a cookie for another node, even signed with our secret
    assertEquals(await get(`hyperware-auth_other.os=${await generateJwt(ours, "other.os")}`), 401);
    // our cookie name, another node's name inside
    assertEquals(await get(`hyperware-auth_${OUR}=${await generateJwt(ours, "other.os")}`), 401);
    // a subdomain-scoped token is not a general login
    assertEquals(
      await get(`hyperware-auth_${OUR}=${await generateJwt(ours, OUR, "app:pkg:pub")}`),
      401,
    );
    // empty token
    assertEquals(await get(`hyperware-auth_${OUR}=`), 401);
  } finally {
    await s.stop();
  }
});

Deno.test("http-server: SecureBind serves only on the app's subdomain with an app-scoped login", async () => {
  const s = await withKeyfile();
  try {
    const app = echoProcess(s, "app:pkg:pub");
    const other = echoProcess(s, "other:foo:pub");
    assertEquals(await act(s, app, { SecureBind: { path: "/ui", cache: false } }), { Ok: null });
    await act(s, other, {
      Bind: { path: "/private", authenticated: true, local_only: false, cache: false },
    });
    const sub = `pkg-pub.localhost:${s.port}`;
    // wrong host: redirected to the app's subdomain, query kept
    const moved = await rawRequest(s.port, {
      path: "/app:pkg:pub/ui?q=1",
      host: `localhost:${s.port}`,
    });
    assertEquals(moved.status, 307);
    assertEquals(
      moved.headers.get("location"),
      `http://pkg-pub.localhost:${s.port}/app:pkg:pub/ui?q=1`,
    );
    // right host, no login
    assertEquals((await rawRequest(s.port, { path: "/app:pkg:pub/ui", host: sub })).status, 401);
    // log in for the app on its subdomain
    const login = await rawRequest(s.port, {
      method: "POST",
      path: "/login",
      host: sub,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password_hash: s.hash, subdomain: "app:pkg:pub" }),
    });
    assertEquals(login.status, 200);
    const setCookie = login.headers.get("set-cookie")!;
    assertMatch(
      setCookie,
      new RegExp(
        `^hyperware-auth_${OUR}@app:pkg:pub=[\\w-]+\\.[\\w-]+\\.[\\w-]+; HttpOnly; SameSite=Strict$`,
      ),
    );
    const appCookie = setCookie.split(";")[0];
    const served = await rawRequest(s.port, {
      path: "/app:pkg:pub/ui",
      host: sub,
      headers: { cookie: appCookie },
    });
    assertEquals(served.status, 200);
    assertEquals(JSON.parse(served.text).request.url, "http://pkg-pub.localhost/app:pkg:pub/ui");
    // a general login is not enough on a localhost secure subdomain
    const general = await generateJwt(await importJwtKey(s.jwtSecret), OUR);
    assertEquals(
      (await rawRequest(s.port, {
        path: "/app:pkg:pub/ui",
        host: sub,
        headers: { cookie: `hyperware-auth_${OUR}=${general}` },
      })).status,
      401,
    );
    // the app's subdomain cannot be used to reach another app's authenticated paths
    assertEquals(
      (await rawRequest(s.port, {
        path: "/other:foo:pub/private",
        host: sub,
        headers: { cookie: `hyperware-auth_${OUR}=${general}` },
      })).status,
      403,
    );
    // ... which still work on the main host
    assertEquals(
      (await rawRequest(s.port, {
        path: "/other:foo:pub/private",
        host: `localhost:${s.port}`,
        headers: { cookie: `hyperware-auth_${OUR}=${general}` },
      })).status,
      200,
    );
  } finally {
    await s.stop();
  }
});
