// The login page. The browser hashes the password itself (argon2id, salt from
// the node name, same parameters as the keyfile code) with hash-wasm, inlined
// here, and POSTs { password_hash, subdomain } to /login. On a secure
// subdomain it asks for a token scoped to the app's process.

import { AUTH_PAGE_CSS, BRAND_MARK } from "./auth_style.ts";

let argon2Script: string | undefined;

/** hash-wasm's browser build of argon2, read once from node_modules. */
export async function loadArgon2Script(): Promise<string> {
  if (argon2Script !== undefined) return argon2Script;
  const candidates: URL[] = [];
  try {
    const entry = import.meta.resolve("hash-wasm");
    if (entry.startsWith("file:")) candidates.push(new URL("./argon2.umd.min.js", entry));
  } catch {
    // fall through to the path relative to this file
  }
  candidates.push(
    new URL("../../node_modules/hash-wasm/dist/argon2.umd.min.js", import.meta.url),
  );
  for (const url of candidates) {
    try {
      argon2Script = await Deno.readTextFile(url);
      return argon2Script;
    } catch {
      // try the next place
    }
  }
  throw new Error("http-server: hash-wasm's argon2.umd.min.js not found for the login page");
}

function jsString(s: string): string {
  return JSON.stringify(s).replace(/</g, "\\u003c");
}

function htmlText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function renderLoginPage(our: string, argon2: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="cache-control" content="no-cache">
<title>Login · ${htmlText(our)}</title>
<style>${AUTH_PAGE_CSS}
  .col { display: flex; flex-direction: column; gap: 14px; }
  #password-err { color: var(--danger); display: none; }
  #loading { display: none; color: var(--muted); }
</style>
</head>
<body>
<main class="card">
  ${BRAND_MARK}
  <h1 id="node-name">${htmlText(our)}</h1>
  <p class="sub" id="scope">Log in to your node</p>
  <form id="login-form">
    <div class="col">
      <input id="password" type="password" name="password" placeholder="Password"
        autocomplete="current-password" required minlength="6" autofocus>
      <div id="password-err" role="alert">Incorrect password</div>
      <button id="login-button" type="submit" disabled>Log in</button>
    </div>
  </form>
  <div id="loading">Logging in…</div>
</main>
<script>${argon2}</script>
<script>
(() => {
  const NODE = ${jsString(our)};
  const form = document.getElementById("login-form");
  const input = document.getElementById("password");
  const button = document.getElementById("login-button");
  const error = document.getElementById("password-err");
  const loading = document.getElementById("loading");

  // Only same-origin paths are followed after login.
  const asked = new URLSearchParams(location.search).get("redirect");
  const target = asked && asked.startsWith("/") && !asked.startsWith("//") &&
      !asked.startsWith("/\\\\") ? asked : null;
  const appPath = target ? new URL(target, location.origin).pathname : location.pathname;
  const firstPathItem = appPath.split("/")[1] || "";

  function secureSubdomainOf(processId) {
    const parts = processId.split(":");
    if (parts.length !== 3) return null;
    return (parts[1] + "-" + parts[2]).replace(/[^a-zA-Z0-9]/g, "-");
  }
  const isSecureSubdomain = secureSubdomainOf(firstPathItem) === location.hostname.split(".")[0];
  if (isSecureSubdomain) {
    document.getElementById("scope").textContent = "Log in to app " + firstPathItem;
  }

  function salt() {
    return NODE.length >= 8 ? NODE : NODE.repeat(1 + Math.floor(8 / NODE.length));
  }

  input.addEventListener("input", () => { error.style.display = "none"; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.style.display = "none";
    loading.style.display = "block";
    try {
      const hex = await hashwasm.argon2id({
        password: input.value, salt: salt(), parallelism: 1, iterations: 2,
        memorySize: 19456, hashLength: 32, outputType: "hex",
      });
      const res = await fetch("/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          password_hash: "0x" + hex,
          subdomain: isSecureSubdomain ? firstPathItem : "",
        }),
      });
      if (res.status >= 400) throw new Error("login failed: " + res.status);
      if (target) location.replace(target);
      else if (location.pathname === "/login") location.replace("/");
      else location.reload();
    } catch (err) {
      console.log(String(err));
      loading.style.display = "none";
      form.style.display = "block";
      input.value = "";
      error.style.display = "block";
      input.focus();
    }
  });
  button.disabled = false;
})();
</script>
</body>
</html>
`;
}
