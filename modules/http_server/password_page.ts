// The boot page: like Hyperdrive, a node booted without --password asks in the browser before
// it boots. A small temporary server on the HTTP port serves a page that hashes the password
// (argon2id, as the login page) and posts the hash:
//   POST /boot            hyperdeno's: set the password of a new node (creates the keyfile), or
//                         unlock the home's keyfile
//   POST /login           Hyperdrive's: unlock the home's keyfile ({password_hash})
//   POST /import-keyfile  Hyperdrive's: boot an existing node from an uploaded keyfile
//                         ({keyfile: base64, password_hash}); written to home only once the
//                         node boots
// An existing node's keyfile is checked on chain first (`verify`): when the chain disagrees the
// page shows why (500, Hyperdrive's message) and waits for another attempt. On success the
// answer carries the login cookie (as Hyperdrive's), the server closes and the node boots.

import {
  type LoadedKeyfile,
  loadOrCreateKeyfile,
  openUploadedKeyfile,
  readKeyfile,
} from "../keyfile/mod.ts";
import { keyfileIdentity } from "../keyfile/mod.ts";
import { loadArgon2Script } from "./login_page.ts";
import { AUTH_PAGE_CSS, BRAND_MARK } from "./auth_style.ts";
import { generateJwt, importJwtKey } from "./auth.ts";
import { loginCookie } from "./login.ts";
import type { ChainRouting } from "../../chain/identity.ts";

/** Hyperdrive's register server refuses bodies over 16 KiB. */
const BODY_LIMIT = 16 * 1024;
/** Every answer of the boot server carries it, so the page can tell the node took over. */
const BOOT_PAGE_HEADER = "x-hyperdeno-boot-page";

/** What a successful attempt hands to the boot. */
export type PromptResult = LoadedKeyfile & {
  /** The routing `verify` got from chain (an existing node). */
  chainRouting?: ChainRouting;
};

export interface PasswordPrompt {
  /** Where to open the page, e.g. "http://localhost:8080/". */
  readonly url: string;
  readonly port: number;
  /** Settles when a password opened (or created) the keyfile; the server is closed by then. */
  readonly done: Promise<PromptResult>;
  /** Stop waiting (rejects `done`). */
  close(): Promise<void>;
}

export interface PasswordPromptOptions {
  home: string;
  /** Node name, needed only when no keyfile exists yet (and not `importOnly`). */
  our?: string;
  /**
   * No keyfile in home and none to make here (a fake node's chain without --fake-node-name):
   * the page only imports an existing node's keyfile.
   */
  importOnly?: boolean;
  port: number;
  hostname?: string;
  /** Try the following ports if `port` is taken. */
  searchPort?: boolean;
  /**
   * Checks an opened keyfile before the node boots: the routing when it is an existing node's
   * and the chain agrees, undefined when no check applies (a node hyperdeno made); throws with
   * the reason otherwise (shown on the page). Without it nothing is checked.
   */
  verify?: (loaded: LoadedKeyfile) => Promise<ChainRouting | undefined>;
}

function jsString(s: string): string {
  return JSON.stringify(s).replace(/</g, "\\u003c");
}

type View = "create" | "unlock" | "import";

function renderPage(name: string, view: View, argon2: string): string {
  const title = view === "create" ? `Set a password for ${name}` : `Unlock ${name}`;
  const create = view === "create";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${(view === "import" ? "Import Keyfile" : title).replace(/</g, "&lt;")}</title>
<style>${AUTH_PAGE_CSS}
  .hidden, #done { display: none; }
</style></head>
<body>
<form id="form" class="${view === "import" ? "hidden" : ""}">
  ${BRAND_MARK}
  <h1 id="title"></h1>
  <p class="sub">${
    create
      ? "It encrypts this node's keys on disk, and you log in with it."
      : "The password of this node's keyfile."
  }</p>
  <input id="password" type="password" placeholder="Password" minlength="6" required autofocus>
  ${create ? '<input id="confirm" type="password" placeholder="Confirm password" required>' : ""}
  <div id="err" class="err" role="alert"></div>
  <button id="submit" type="submit">${create ? "Set password and boot" : "Unlock and boot"}</button>
  ${
    create
      ? '<a id="import-link" href="/import-keyfile">Boot an existing node: import its keyfile</a>'
      : ""
  }
</form>
<form id="import-form" class="${view === "import" ? "" : "hidden"}">
  ${BRAND_MARK}
  <h1>Import a keyfile</h1>
  <p class="sub">Boot a node that already exists, from the keyfile it was given.</p>
  <label>1. Keyfile <input id="keyfile" type="file" required></label>
  <label>2. Node name <input id="import-name" type="text" placeholder="name.os" required></label>
  <label>3. Password <input id="import-password" type="password" minlength="6" required></label>
  <div id="import-err" class="err" role="alert"></div>
  <button id="import-submit" type="submit">Boot node</button>
  <small>The node's networking key and routing are checked on chain first. A direct node must
  run where its ~ip points.</small>
  ${view === "import" && !name ? "" : '<a id="set-link" href="/">Back</a>'}
</form>
<div id="done" class="card">${BRAND_MARK}<h1>Booting…</h1>
  <p class="sub">This page reloads when the node is up.</p></div>
<script>${argon2}</script>
<script>
(() => {
  const NODE = ${jsString(name)};
  const VIEW = ${jsString(view)};
  const BOOT_HEADER = ${jsString(BOOT_PAGE_HEADER)};
  document.getElementById("title").textContent = ${jsString(title)};
  const salt = (name) => name.length >= 8 ? name : name.repeat(1 + Math.floor(8 / name.length));
  const hash = async (pw, name) => "0x" + await hashwasm.argon2id({ password: pw, salt: salt(name),
    parallelism: 1, iterations: 2, memorySize: 19456, hashLength: 32, outputType: "hex" });
  const booting = () => {
    for (const id of ["form", "import-form"]) document.getElementById(id).style.display = "none";
    document.getElementById("done").style.display = "flex";
    // the boot page's server answers with ${BOOT_PAGE_HEADER}; the node's does not
    const poll = async () => {
      try {
        const r = await fetch("/our", { cache: "no-store" });
        if (r.ok && !r.headers.has(BOOT_HEADER)) { location.replace("/"); return; }
      } catch {}
      setTimeout(poll, 500);
    };
    setTimeout(poll, 500);
  };
  const post = async (path, body, err) => {
    const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    if (res.status >= 400) {
      err.textContent = await res.json().catch(() => "Incorrect password");
      return false;
    }
    return true;
  };
  const form = document.getElementById("form");
  const err = document.getElementById("err");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const pw = document.getElementById("password").value;
    if (VIEW === "create" && pw !== document.getElementById("confirm").value) {
      err.textContent = "Passwords do not match";
      return;
    }
    err.textContent = "Working…";
    const password_hash = await hash(pw, NODE);
    if (await post(VIEW === "unlock" ? "/login" : "/boot", { password_hash }, err)) booting();
  });
  let keyfile = null;
  const importErr = document.getElementById("import-err");
  const nameInput = document.getElementById("import-name");
  document.getElementById("keyfile").addEventListener("change", async (e) => {
    const file = e.target.files && e.target.files[0];
    keyfile = file ? new Uint8Array(await file.arrayBuffer()) : null;
    // Hyperdrive's keyfile is JSON: [name, routers, ...]; fill in the name it holds
    try {
      const name = JSON.parse(new TextDecoder().decode(keyfile))[0];
      if (typeof name === "string" && !nameInput.value) nameInput.value = name;
    } catch {}
  });
  document.getElementById("import-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!keyfile) { importErr.textContent = "No keyfile selected"; return; }
    const name = nameInput.value.trim();
    importErr.textContent = "Checking the keyfile and the chain…";
    let bin = "";
    for (const b of keyfile) bin += String.fromCharCode(b);
    const password_hash = await hash(document.getElementById("import-password").value, name);
    if (await post("/import-keyfile", { keyfile: btoa(bin), password_hash }, importErr)) booting();
  });
})();
</script>
</body></html>
`;
}

class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function answer(body: unknown, status: number, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set(BOOT_PAGE_HEADER, "1");
  h.set("cache-control", "no-store, no-cache, must-revalidate, proxy-revalidate");
  return Response.json(body, { status, headers: h });
}

/** A JSON body of at most BODY_LIMIT bytes, or a Refusal(400, `bad`). */
async function jsonBody(req: Request, bad: string): Promise<Record<string, unknown>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > BODY_LIMIT) throw new Refusal(413, "Request body too large");
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.length > BODY_LIMIT) throw new Refusal(413, "Request body too large");
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (v && typeof v === "object" && !Array.isArray(v)) return v;
  } catch { /* below */ }
  throw new Refusal(400, bad);
}

/**
 * /import-keyfile's `keyfile`: base64 (standard alphabet, padded), as Hyperdrive's server
 * reads it. Hyperdrive's own page posts the file's text instead (which its server refuses);
 * that is taken too, when it is a JSON keyfile.
 */
function uploadedKeyfileBytes(text: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
  } catch {
    if (text.trimStart().startsWith("[")) return new TextEncoder().encode(text);
    throw new Refusal(400, "Keyfile not valid base64");
  }
}

async function storedName(home: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(`${home}/.node-name`)).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Serve the boot page until a password opens (or creates) a keyfile the chain agrees with. */
export async function promptPasswordInBrowser(
  opts: PasswordPromptOptions,
): Promise<PasswordPrompt> {
  const existing = await readKeyfile(opts.home);
  const importOnly = !existing && opts.importOnly === true;
  const name = existing ? keyfileIdentity(existing).username : opts.our ?? "";
  if (!name && !importOnly) {
    throw new Error("no keyfile in home: a node name is needed to create one");
  }
  const argon2 = await loadArgon2Script();
  const pages = {
    main: renderPage(name, existing ? "unlock" : importOnly ? "import" : "create", argon2),
    import: existing ? undefined : renderPage(name, "import", argon2),
  };
  let settle!: { resolve: (k: PromptResult) => void; reject: (e: Error) => void };
  const done = new Promise<PromptResult>((resolve, reject) => settle = { resolve, reject });
  let busy = false;
  let finished = false;

  /** Checks `loaded` on chain, then answers with the login cookie and hands it to the boot. */
  const succeed = async (req: Request, loaded: LoadedKeyfile, body: unknown, status: number) => {
    let chainRouting: ChainRouting | undefined;
    try {
      chainRouting = await opts.verify?.(loaded);
    } catch (e) {
      throw new Refusal(500, e instanceof Error ? e.message : String(e));
    }
    finished = true;
    const our = loaded.keyfile.username;
    const token = await generateJwt(await importJwtKey(loaded.keyfile.jwtSecret), our);
    const cookie = loginCookie(our, token, new URL(req.url).hostname, "");
    // answer first, then close the server and hand the keyfile to the boot
    setTimeout(
      () => void server.shutdown().then(() => settle.resolve({ ...loaded, chainRouting })),
      0,
    );
    return answer(body, status, { "set-cookie": cookie });
  };

  /** hyperdeno's /boot: set the password (no keyfile yet) or unlock the home's keyfile. */
  const boot = async (req: Request) => {
    if (importOnly) {
      throw new Refusal(
        409,
        "No node to set a password for here: import an existing node's keyfile",
      );
    }
    const hash = (await jsonBody(req, "Failed to parse password")).password_hash;
    if (typeof hash !== "string") throw new Refusal(400, "Failed to parse password");
    let loaded: LoadedKeyfile;
    try {
      if (!(await readKeyfile(opts.home)) && (await storedName(opts.home)) === undefined) {
        // a keyfile made here is hyperdeno's: the name beside it says so (see isOnchainHome)
        await Deno.mkdir(opts.home, { recursive: true });
        await Deno.writeTextFile(`${opts.home}/.node-name`, name);
      }
      loaded = await loadOrCreateKeyfile({ home: opts.home, our: name, passwordHash: hash });
    } catch (e) {
      throw new Refusal(401, `Failed to decode keyfile: ${(e as Error).message}`);
    }
    return succeed(req, loaded, "ok", 200);
  };

  /** Hyperdrive's /login: unlock the home's keyfile. */
  const login = async (req: Request) => {
    const hash = (await jsonBody(req, "Failed to parse login info")).password_hash;
    if (typeof hash !== "string") throw new Refusal(400, "Failed to parse login info");
    const encoded = await readKeyfile(opts.home);
    if (!encoded) throw new Refusal(404, "Keyfile not present");
    let loaded: LoadedKeyfile;
    try {
      loaded = await loadOrCreateKeyfile({ home: opts.home, passwordHash: hash });
    } catch {
      throw new Refusal(401, "Incorrect password!");
    }
    return succeed(req, loaded, encoded.toBase64(), 302);
  };

  /** Hyperdrive's /import-keyfile: an existing node's keyfile, uploaded. */
  const importKeyfile = async (req: Request) => {
    const v = await jsonBody(req, "Failed to parse keyfile info");
    if (typeof v.keyfile !== "string" || typeof v.password_hash !== "string") {
      throw new Refusal(400, "Failed to parse keyfile info");
    }
    const encoded = uploadedKeyfileBytes(v.keyfile);
    if (await readKeyfile(opts.home)) {
      throw new Refusal(409, "This home already holds a keyfile: unlock it instead");
    }
    let loaded: LoadedKeyfile;
    try {
      loaded = await openUploadedKeyfile(encoded, v.password_hash);
    } catch {
      throw new Refusal(401, "Incorrect password!");
    }
    const stored = await storedName(opts.home);
    if (stored !== undefined && stored !== loaded.keyfile.username) {
      throw new Refusal(409, `This home belongs to ${stored}, not ${loaded.keyfile.username}`);
    }
    return succeed(req, loaded, encoded.toBase64(), 302);
  };

  const routes: Record<string, (req: Request) => Promise<Response>> = {
    "/boot": boot,
    "/login": login,
    "/import-keyfile": importKeyfile,
  };

  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const route = routes[path];
    if (req.method === "POST" && route) {
      if (finished) return answer("already booting", 409);
      if (busy) return answer("one attempt at a time", 429);
      busy = true;
      try {
        return await route(req);
      } catch (e) {
        if (e instanceof Refusal) return answer(e.message, e.status);
        return answer(e instanceof Error ? e.message : String(e), 500);
      } finally {
        busy = false;
      }
    }
    if (req.method === "GET") {
      const page = path === "/import-keyfile" && pages.import ? pages.import : pages.main;
      return new Response(page, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          [BOOT_PAGE_HEADER]: "1",
        },
      });
    }
    return new Response(null, { status: 404, headers: { [BOOT_PAGE_HEADER]: "1" } });
  };
  const hostname = opts.hostname ?? "0.0.0.0";
  let server!: Deno.HttpServer<Deno.NetAddr>;
  const last = opts.searchPort && opts.port !== 0 ? Math.max(opts.port, 8999) : opts.port;
  for (let port = opts.port; port <= last; port++) {
    try {
      server = Deno.serve({ port, hostname, onListen: () => {} }, handler);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse) || port === last) throw e;
    }
  }
  const port = server.addr.port;
  const host = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  return {
    url: `http://${host}:${port}/`,
    port,
    done,
    async close() {
      if (!finished) {
        finished = true;
        await server.shutdown();
        settle.reject(new Error("password prompt closed"));
      }
    },
  };
}
