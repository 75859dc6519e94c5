// Login and the authentication of bound paths: POST /login turns the password
// hash into a JWT cookie (Hyperdrive's login_handler); authenticated HTTP and
// WebSocket bindings check that cookie, scoped per app on secure subdomains.

import { type ProcessId, processIdToString, textDecoder } from "../../wire/core.ts";
import { decodeKeyfile } from "../keyfile/mod.ts";
import { authTokenValid, generateJwt, importJwtKey, secureSubdomain } from "./auth.ts";
import type { BoundPath, BoundWsPath } from "./bindings.ts";
import type { ServerCore } from "./config.ts";
import { BodyTooLarge, isLocalhost, json, readBody, type RequestInfo } from "./request.ts";

const LOGIN_BODY_LIMIT = 16 * 1024;

/**
 * The login cookie. Hyperdrive appends HttpOnly, Secure and SameSite as headers
 * of their own, which browsers ignore; here HttpOnly and SameSite=Strict are
 * attributes of the cookie itself. Secure is left off: nodes are also served
 * over plain http (localhost, a LAN address), where a Secure cookie is not kept.
 */
export function loginCookie(our: string, token: string, hostname: string, subdomain: string) {
  const attributes = "HttpOnly; SameSite=Strict";
  return subdomain === ""
    ? `hyperware-auth_${our}=${token}; domain=.${hostname}; ${attributes}`
    : `hyperware-auth_${our}@${subdomain}=${token}; ${attributes}`;
}

export class Login {
  #core: ServerCore;
  #inFlight = 0;

  constructor(core: ServerCore) {
    this.#core = core;
  }

  /** POST /login: { password_hash, subdomain } decrypts the keyfile, or the login fails. */
  async handle(ri: RequestInfo): Promise<Response> {
    const keyfile = this.#core.opts.encodedKeyfile;
    if (!keyfile) return json("login unavailable: this node has no keyfile", 503);
    let info: { password_hash: string; subdomain: string | null };
    try {
      const body = await readBody(ri.req, LOGIN_BODY_LIMIT);
      const v = JSON.parse(textDecoder.decode(body));
      if (
        !v || typeof v.password_hash !== "string" ||
        !(v.subdomain == null || typeof v.subdomain === "string")
      ) {
        throw new Error("bad shape");
      }
      info = { password_hash: v.password_hash, subdomain: v.subdomain ?? null };
    } catch (e) {
      if (e instanceof BodyTooLarge) return json("login body too large", 413);
      return json("Failed to parse login info", 400);
    }
    const redirect = new URLSearchParams(ri.rawQuery).get("redirect");
    if (
      redirect !== null &&
      (!redirect.startsWith("/") || redirect.startsWith("//") || redirect.startsWith("/\\"))
    ) {
      return json("redirect must be a path on this node", 400);
    }
    if (this.#inFlight >= this.#core.limits.maxConcurrentLogins) {
      return json("too many login attempts in progress", 429);
    }
    this.#inFlight++;
    let jwtSecret: Uint8Array;
    try {
      jwtSecret = (await decodeKeyfile(keyfile, info.password_hash)).jwtSecret;
    } catch (e) {
      return json(`Failed to decode keyfile: ${(e as Error).message}`, 500);
    } finally {
      this.#inFlight--;
    }
    const our = this.#core.ctx.our;
    const token = await generateJwt(
      await importJwtKey(jwtSecret),
      our,
      isLocalhost(ri) ? info.subdomain : null,
    );
    // as Hyperdrive: only a-z, 0-9, '-', ':' and '.' survive in the cookie's name
    const subdomain = (info.subdomain ?? "").replace(/[^A-Za-z0-9\-:.]/g, "");
    const headers = new Headers({ "set-cookie": loginCookie(our, token, ri.hostname, subdomain) });
    if (redirect !== null) {
      const proto = ri.headers["x-forwarded-proto"] ?? "http";
      headers.set("location", `${proto}://${ri.host}${redirect}`);
      return new Response(null, { status: 303, headers });
    }
    return json(keyfile.toBase64(), 200, headers);
  }
}

/** Not logged in: a page request is sent to /login and back; anything else gets 401. */
function needLogin(ri: RequestInfo): Response {
  const accept = ri.req.headers.get("accept") ?? "";
  if (ri.req.method === "GET" && accept.includes("text/html")) {
    const back = ri.rawPath + (ri.rawQuery ? `?${ri.rawQuery}` : "");
    return new Response(null, {
      status: 302,
      headers: { location: `/login?redirect=${encodeURIComponent(back)}` },
    });
  }
  return json("authentication required: log in at /login", 401);
}

function wrongSubdomain(): Response {
  return new Response("secure subdomain can only serve its associated package", { status: 403 });
}

/**
 * The refusal for a request to an authenticated HTTP binding, or undefined when
 * it may pass. A SecureBind'ing is served only on its app's subdomain (others
 * are redirected there) with a token scoped to the app on localhost; an app's
 * secure subdomain reaches no other app's authenticated paths.
 */
export async function refuseHttp(
  core: ServerCore,
  ri: RequestInfo,
  bound: BoundPath,
  app: ProcessId,
): Promise<Response | undefined> {
  const cookie = ri.headers["cookie"] ?? "";
  const requestSubdomain = ri.hostname.split(".")[0];
  if (bound.secureSubdomain !== undefined) {
    if (!requestSubdomain) {
      return new Response("attempted to access secure subdomain without host", { status: 401 });
    }
    if (requestSubdomain !== bound.secureSubdomain) {
      const proto = ri.headers["x-forwarded-proto"] ?? "http";
      const query = ri.rawQuery ? `?${ri.rawQuery}` : "";
      return new Response(null, {
        status: 307,
        headers: {
          location: `${proto}://${bound.secureSubdomain}.${ri.host}${ri.originalPath}${query}`,
        },
      });
    }
    if (bound.secureSubdomain !== secureSubdomain(app)) return wrongSubdomain();
    const scope = isLocalhost(ri) ? processIdToString(app) : undefined;
    if (!(await authTokenValid(core.jwtKey, core.ctx.our, scope, cookie))) return needLogin(ri);
    return undefined;
  }
  if (
    requestSubdomain && core.bindings.secureSubdomains.has(requestSubdomain) &&
    requestSubdomain !== secureSubdomain(app)
  ) {
    return wrongSubdomain();
  }
  if (!(await authTokenValid(core.jwtKey, core.ctx.our, undefined, cookie))) return needLogin(ri);
  return undefined;
}

/** The refusal for an upgrade to an authenticated WebSocket binding, or undefined. */
export async function refuseWebSocket(
  core: ServerCore,
  ri: RequestInfo,
  bound: BoundWsPath,
  app: ProcessId,
): Promise<Response | undefined> {
  const cookie = ri.headers["cookie"];
  const refused = () => json("authentication required", 401);
  if (!cookie) return refused();
  if (bound.secureSubdomain !== undefined) {
    const requestSubdomain = ri.hostname.split(".")[0];
    const scope = isLocalhost(ri) ? processIdToString(app) : undefined;
    if (
      requestSubdomain !== bound.secureSubdomain ||
      bound.secureSubdomain !== secureSubdomain(app) ||
      !(await authTokenValid(core.jwtKey, core.ctx.our, scope, cookie))
    ) {
      return refused();
    }
    return undefined;
  }
  if (!(await authTokenValid(core.jwtKey, core.ctx.our, undefined, cookie))) return refused();
  return undefined;
}
