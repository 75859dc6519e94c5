// Boot without --password: like Hyperdrive, the node asks for its password in
// the browser before it boots. A small temporary server on the HTTP port
// serves a page that hashes the password (argon2id, as the login page) and
// posts the hash; with no keyfile yet it sets the password and creates the
// keyfile, otherwise it must decrypt the existing one. Then the server closes
// and the node boots with the keyfile.

import { type LoadedKeyfile, loadOrCreateKeyfile, readKeyfile } from "../keyfile/mod.ts";
import { keyfileIdentity } from "../keyfile/mod.ts";
import { loadArgon2Script } from "./login_page.ts";

export interface PasswordPrompt {
  /** Where to open the page, e.g. "http://localhost:8080/". */
  readonly url: string;
  readonly port: number;
  /** Settles when a password opened (or created) the keyfile; the server is closed by then. */
  readonly done: Promise<LoadedKeyfile>;
  /** Stop waiting (rejects `done`). */
  close(): Promise<void>;
}

export interface PasswordPromptOptions {
  home: string;
  /** Node name, needed only when no keyfile exists yet. */
  our?: string;
  port: number;
  hostname?: string;
  /** Try the following ports if `port` is taken. */
  searchPort?: boolean;
}

function jsString(s: string): string {
  return JSON.stringify(s).replace(/</g, "\\u003c");
}

function renderPage(name: string, create: boolean, argon2: string): string {
  const title = create ? `Set a password for ${name}` : `Unlock ${name}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title.replace(/</g, "&lt;")}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; }
  form, #done { width: min(22rem, 90vw); display: flex; flex-direction: column; gap: .75rem; }
  input, button { font: inherit; padding: .6rem .75rem; border-radius: .4rem; }
  button { border: 0; background: #004fff; color: white; }
  #err { color: #d33; min-height: 1.2em; }
  #done { display: none; }
</style></head>
<body>
<form id="form">
  <h1 id="title" style="font-size:1.25rem;margin:0"></h1>
  <input id="password" type="password" placeholder="Password" minlength="6" required autofocus>
  ${create ? '<input id="confirm" type="password" placeholder="Confirm password" required>' : ""}
  <div id="err" role="alert"></div>
  <button id="submit" type="submit">${create ? "Set password and boot" : "Unlock and boot"}</button>
</form>
<div id="done">Booting… this page reloads when the node is up.</div>
<script>${argon2}</script>
<script>
(() => {
  const NODE = ${jsString(name)};
  const CREATE = ${create};
  document.getElementById("title").textContent = ${jsString(title)};
  const form = document.getElementById("form");
  const err = document.getElementById("err");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const pw = document.getElementById("password").value;
    if (CREATE && pw !== document.getElementById("confirm").value) {
      err.textContent = "Passwords do not match";
      return;
    }
    err.textContent = "Working…";
    const salt = NODE.length >= 8 ? NODE : NODE.repeat(1 + Math.floor(8 / NODE.length));
    const hex = await hashwasm.argon2id({ password: pw, salt, parallelism: 1, iterations: 2,
      memorySize: 19456, hashLength: 32, outputType: "hex" });
    const res = await fetch("/boot", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password_hash: "0x" + hex }) });
    if (res.status >= 400) { err.textContent = await res.json().catch(() => "Incorrect password"); return; }
    form.style.display = "none";
    document.getElementById("done").style.display = "flex";
    const poll = async () => {
      try { const r = await fetch("/our"); if (r.ok) { location.replace("/"); return; } } catch {}
      setTimeout(poll, 500);
    };
    setTimeout(poll, 500);
  });
})();
</script>
</body></html>
`;
}

/** Serve the password page until a password opens (or creates) the keyfile. */
export async function promptPasswordInBrowser(
  opts: PasswordPromptOptions,
): Promise<PasswordPrompt> {
  const existing = await readKeyfile(opts.home);
  const name = existing ? keyfileIdentity(existing).username : opts.our;
  if (!name) throw new Error("no keyfile in home: a node name is needed to create one");
  const page = renderPage(name, !existing, await loadArgon2Script());
  let settle!: { resolve: (k: LoadedKeyfile) => void; reject: (e: Error) => void };
  const done = new Promise<LoadedKeyfile>((resolve, reject) => settle = { resolve, reject });
  let busy = false;
  let finished = false;
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (req.method === "POST" && path === "/boot") {
      if (finished) return Response.json("already booting", { status: 409 });
      if (busy) return Response.json("one attempt at a time", { status: 429 });
      let hash: unknown;
      try {
        const text = await req.text();
        if (text.length > 16 * 1024) throw new Error("too large");
        hash = JSON.parse(text).password_hash;
      } catch {
        return Response.json("Failed to parse password", { status: 400 });
      }
      if (typeof hash !== "string") {
        return Response.json("Failed to parse password", { status: 400 });
      }
      busy = true;
      try {
        const loaded = await loadOrCreateKeyfile({
          home: opts.home,
          our: name,
          passwordHash: hash,
        });
        finished = true;
        // answer first, then close the server and hand the keyfile to the boot
        setTimeout(() => void server.shutdown().then(() => settle.resolve(loaded)), 0);
        return Response.json("ok");
      } catch (e) {
        return Response.json(`Failed to decode keyfile: ${(e as Error).message}`, { status: 401 });
      } finally {
        busy = false;
      }
    }
    if (req.method === "GET") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return new Response(null, { status: 404 });
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
