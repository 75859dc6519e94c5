// Path matching with route-recognizer 0.3's rules, and the JWT format.

import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { assertEquals } from "../assert.ts";
import { PathRouter } from "../../modules/http_server/router.ts";
import {
  authTokenValid,
  base64UrlDecode,
  base64UrlEncode,
  findCookie,
  generateJwt,
  importJwtKey,
  secureSubdomain,
} from "../../modules/http_server/auth.ts";
import { formatPathWithProcess, isUnsafePath } from "../../modules/http_server/mod.ts";
import { parseProcessId } from "../../wire/core.ts";

function match(r: PathRouter<string>, p: string) {
  const m = r.recognize(p);
  return m ? [m.value, m.params] : undefined;
}

Deno.test("router: statics beat dynamics beat wildcards; params are captured", () => {
  const r = new PathRouter<string>();
  r.add("/posts/:id", "id");
  r.add("/posts/new", "new");
  r.add("/posts/:post_id/comments/:id", "comment");
  r.add("*all", "star");
  r.add("/a/*b/c", "abc");
  r.add("/a/*b", "ab");
  assertEquals(match(r, "/posts/1"), ["id", { id: "1" }]);
  assertEquals(match(r, "/posts/new"), ["new", {}]);
  assertEquals(match(r, "/posts/12/comments/100"), ["comment", { post_id: "12", id: "100" }]);
  assertEquals(match(r, "/anything/else"), ["star", { all: "anything/else" }]);
  assertEquals(match(r, "/a/foo/bar/c"), ["abc", { b: "foo/bar" }]);
  assertEquals(match(r, "/a/foo/bar"), ["ab", { b: "foo/bar" }]);
  // a dynamic segment needs at least one character
  assertEquals(match(r, "/posts/"), ["star", { all: "posts/" }]);
});

Deno.test("router: '.' separates segments; same shape with other names replaces; root routes", () => {
  const r = new PathRouter<string>();
  r.add("/files/:name.:ext", "split");
  r.add("/x/:a", "first");
  r.add("/x/:b", "second");
  r.add("", "root");
  assertEquals(match(r, "/files/archive.tar.gz"), ["split", { name: "archive.tar", ext: "gz" }]);
  assertEquals(match(r, "/x/1"), ["second", { b: "1" }]);
  assertEquals(match(r, "/"), ["root", {}]);
  assertEquals(match(r, ""), ["root", {}]);
  assertEquals(match(r, "/nope"), undefined);
  // static text is literal (no regex meaning)
  r.add("/app:pkg:pub/a+b", "literal");
  assertEquals(match(r, "/app:pkg:pub/a+b"), ["literal", {}]);
  assertEquals(match(r, "/app:pkg:pub/aab"), undefined);
});

Deno.test("router: all-static routes (looked up by text) still follow the rules", () => {
  const r = new PathRouter<string>();
  r.add("/x/y", "v1");
  r.add("/x/:id", "dyn");
  r.add("/x/y", "v2");
  r.add("/a//b", "empty-seg");
  r.add("/v.1/p", "dots");
  r.add("*all", "star");
  assertEquals(match(r, "/x/y"), ["v2", {}]);
  assertEquals(match(r, "x/y"), ["v2", {}]);
  assertEquals(match(r, "/x/z"), ["dyn", { id: "z" }]);
  assertEquals(match(r, "/a//b"), ["empty-seg", {}]);
  assertEquals(match(r, "/a/b"), ["star", { all: "a/b" }]);
  assertEquals(match(r, "/v.1/p"), ["dots", {}]);
  assertEquals(match(r, "/vx1/p"), ["star", { all: "vx1/p" }]);
  assertEquals(match(r, "/x/y/"), ["star", { all: "x/y/" }]);
});

Deno.test("paths: ProcessId prefixing as Hyperdrive; unsafe paths detected", () => {
  const p = parseProcessId("app:pkg:pub.os");
  assertEquals(formatPathWithProcess(p, "/api/"), "/app:pkg:pub.os/api");
  assertEquals(formatPathWithProcess(p, "api"), "/app:pkg:pub.os/api");
  assertEquals(formatPathWithProcess(p, "/"), "/app:pkg:pub.os");
  assertEquals(formatPathWithProcess(parseProcessId("homepage:homepage:sys"), "/our"), "/our");
  assertEquals(secureSubdomain(p), "pkg-pub-os");
  for (const bad of ["/a/..", "/./a", "/a/%2e%2E/b", "/a%2fb", "/a%5Cb", "/%", "/a%00"]) {
    assertEquals(isUnsafePath(bad), true, bad);
  }
  for (const ok of ["/a/b", "/a/...", "/a/.hidden", "/a%20b", "/"]) {
    assertEquals(isUnsafePath(ok), false, ok);
  }
});

Deno.test('jwt: HS256 over {"alg":"HS256"} and Hyperdrive\'s claims, checked independently', async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const key = await importJwtKey(secret);
  const token = await generateJwt(key, "fake.dev", "", 1_700_000_000);
  const [h, c, s] = token.split(".");
  assertEquals(new TextDecoder().decode(base64UrlDecode(h)), '{"alg":"HS256"}');
  assertEquals(
    new TextDecoder().decode(base64UrlDecode(c)),
    `{"username":"fake.dev","subdomain":null,"expiration":${1_700_000_000 + 26 * 7 * 86400}}`,
  );
  const expected = hmac(sha256, secret, new TextEncoder().encode(`${h}.${c}`));
  assertEquals(s, base64UrlEncode(expected));
  // cookie lookup and validity
  assertEquals(
    findCookie(`a=1; hyperware-auth_fake.dev=${token}; b=2`, "hyperware-auth_fake.dev"),
    token,
  );
  const valid = (cookie: string, scope?: string, now?: number) =>
    authTokenValid(key, "fake.dev", scope, cookie, now);
  assertEquals(await valid(`hyperware-auth_fake.dev=${token}`, undefined, 1_700_000_001), true);
  assertEquals(await valid(`hyperware-auth_fake.dev=${token}`, undefined, 1_800_000_000), false);
  const scoped = await generateJwt(key, "fake.dev", "app:pkg:pub");
  assertEquals(await valid(`hyperware-auth_fake.dev@app:pkg:pub=${scoped}`, "app:pkg:pub"), true);
  assertEquals(await valid(`hyperware-auth_fake.dev@app:pkg:pub=${token}`, "app:pkg:pub"), false);
});

Deno.test("jwt: parts are read as the jwt crate reads them: unpadded, canonical base64url", async () => {
  const key = await importJwtKey(crypto.getRandomValues(new Uint8Array(32)));
  const token = await generateJwt(key, "fake.dev");
  const cookie = (t: string) => `hyperware-auth_fake.dev=${t}`;
  assertEquals(await authTokenValid(key, "fake.dev", undefined, cookie(token)), true);
  // the signature's last letter carries 2 unused bits: setting them decodes to the same
  // bytes under a lenient decoder, but the jwt crate refuses a non-canonical letter
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(token.at(-1)!);
  assertEquals(last % 4, 0);
  const tweaked = token.slice(0, -1) + alphabet[last + 1];
  assertEquals(await authTokenValid(key, "fake.dev", undefined, cookie(tweaked)), false);
  assertEquals(base64UrlDecode("-_8"), new Uint8Array([0xfb, 0xff]));
  for (const bad of ["-_8=", "-_9", "+/8", "-_ 8", "A"]) {
    let threw = false;
    try {
      base64UrlDecode(bad);
    } catch {
      threw = true;
    }
    assertEquals(threw, true, bad);
  }
});

Deno.test("jwt: a token accepted before is still checked: its key, its claims, its expiry", async () => {
  const key = await importJwtKey(crypto.getRandomValues(new Uint8Array(32)));
  const other = await importJwtKey(crypto.getRandomValues(new Uint8Array(32)));
  const now = 1_700_000_000;
  const token = await generateJwt(key, "fake.dev", "", now);
  const cookie = `hyperware-auth_fake.dev=${token}`;
  for (let i = 0; i < 3; i++) {
    assertEquals(await authTokenValid(key, "fake.dev", undefined, cookie, now + 1), true);
    // remembered for `key` only: another secret never accepts it
    assertEquals(await authTokenValid(other, "fake.dev", undefined, cookie, now + 1), false);
    // the claims are compared on every request
    assertEquals(
      await authTokenValid(
        key,
        "other.dev",
        undefined,
        `hyperware-auth_other.dev=${token}`,
        now + 1,
      ),
      false,
    );
    assertEquals(
      await authTokenValid(
        key,
        "fake.dev",
        "a:b:c",
        `hyperware-auth_fake.dev@a:b:c=${token}`,
        now + 1,
      ),
      false,
    );
    assertEquals(
      await authTokenValid(key, "fake.dev", undefined, cookie, now + 26 * 7 * 86400),
      false,
    );
  }
  // more valid tokens than are remembered: each still accepted, the first too
  for (let i = 0; i < 1100; i++) {
    const t = await generateJwt(key, "fake.dev", "", now + i);
    assertEquals(
      await authTokenValid(key, "fake.dev", undefined, `hyperware-auth_fake.dev=${t}`, now + 1),
      true,
    );
  }
  assertEquals(await authTokenValid(key, "fake.dev", undefined, cookie, now + 1), true);
});
