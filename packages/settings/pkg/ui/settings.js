// deno-lint-ignore-file no-window -- browser code: window is the page
// Settings: the state settings:settings:sys answers at /ask (identity, peers,
// diagnostics, eth providers and access, processes, the stylesheet), kept current by
// the WebSocket it pushes on and by polling; changes are POSTed to /ask as the
// settings:sys-v0.wit requests. Errors come back as {"Err", "message"}.
"use strict";

(() => {
  const BASE = "/settings:settings:sys";
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 15_000;

  /** @type {any} */
  let state = null;
  let fetchedAt = 0;
  /** pushed states seen so far: a read that a push overtook is older than what we show */
  let pushes = 0;
  let wsOpen = false;
  let busy = 0;
  /** the node was shut down from here: stop polling and reconnecting */
  let gone = false;

  // -------------------------------------------------------------------------
  // small helpers

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function hue(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function avatar(name, el0) {
    const a = el0 ?? el("span", "avatar");
    a.style.setProperty("--h", String(hue(name)));
    a.textContent = [...name][0] ?? "?";
    a.setAttribute("aria-hidden", "true");
    return a;
  }

  function shortKey(k) {
    return typeof k === "string" && k.length > 18 ? `${k.slice(0, 8)}…${k.slice(-6)}` : k;
  }

  function toast(text, bad = false) {
    const t = el("div", bad ? "toast bad" : "toast", text);
    $("toasts").append(t);
    setTimeout(() => t.remove(), bad ? 6000 : 3500);
  }

  /** The home screen: the main origin when we are on our secure subdomain. */
  function homeUrl() {
    const [first, ...rest] = location.hostname.split(".");
    if (first === "settings-sys" && rest.length > 0) {
      return `${location.protocol}//${rest.join(".")}${location.port ? `:${location.port}` : ""}/`;
    }
    return "/";
  }

  class ApiError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  async function api(path, body) {
    let res;
    try {
      res = await fetch(BASE + path, {
        method: body === undefined ? "GET" : "POST",
        credentials: "include",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError("Could not reach your node.", "Offline", 0);
    }
    if (res.status === 401) {
      location.assign(`/login?redirect=${encodeURIComponent(location.pathname)}`);
      throw new ApiError("Please log in again.", "Unauthorized", 401);
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!res.ok) {
      const message = data && typeof data === "object" && data.message
        ? data.message
        : `${res.status} ${typeof data === "string" ? data : ""}`.trim();
      throw new ApiError(message, data?.Err ?? String(res.status), res.status);
    }
    return data;
  }

  function setBusy(on) {
    busy += on ? 1 : -1;
    $("refresh").classList.toggle("busy", busy > 0);
  }

  // -------------------------------------------------------------------------
  // loading

  async function load({ quiet = false } = {}) {
    setBusy(true);
    try {
      const seen = pushes;
      const s = await api("/ask");
      // settings pushes after every change, so a push that came in while this read was
      // in flight carries the same state or a newer one (the read may have been answered
      // first and arrived last)
      if (!wsOpen || pushes === seen) apply(s);
      $("error").hidden = true;
    } catch (e) {
      if (!quiet || !state) showError(`Could not read the node's settings: ${e.message}`);
      if (!state) document.body.dataset.state = "error";
    } finally {
      setBusy(false);
    }
  }

  function showError(text) {
    $("error-text").textContent = text;
    $("error").hidden = false;
  }
  $("retry").addEventListener("click", () => load());
  $("refresh").addEventListener("click", () => load());

  function apply(s) {
    if (!s || typeof s !== "object") return;
    state = s;
    fetchedAt = Date.now();
    render();
    document.body.dataset.state = "ready";
  }

  function updatedText() {
    if (!fetchedAt) return;
    const s = Math.round((Date.now() - fetchedAt) / 1000);
    $("updated").textContent = s < 10
      ? "updated just now"
      : s < 60
      ? `updated ${s} s ago`
      : `updated ${Math.round(s / 60)} min ago`;
  }
  setInterval(updatedText, 5000);

  // live: the state after every change, from any tab; reconnects with backoff
  let wsDelay = 1000;
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}${BASE}/`);
    } catch {
      return;
    }
    ws.addEventListener("open", () => {
      wsDelay = 1000;
      wsOpen = true;
    });
    ws.addEventListener("message", (e) => {
      try {
        apply(JSON.parse(e.data));
        pushes++;
      } catch { /* not the state */ }
    });
    ws.addEventListener("close", () => {
      wsOpen = false;
      if (gone) return;
      setTimeout(connect, wsDelay);
      wsDelay = Math.min(wsDelay * 2, 30_000);
    });
  }

  setInterval(() => {
    if (document.visibilityState === "visible" && !gone && Date.now() - fetchedAt > POLL_MS) {
      load({ quiet: true });
    }
  }, 3000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !gone) load({ quiet: true });
  });

  // -------------------------------------------------------------------------
  // rendering

  function render() {
    const node = state.identity?.name ?? window.our?.node ?? "";
    $("node-name").textContent = node;
    document.title = node ? `Settings · ${node}` : "Settings";
    updatedText();
    renderIdentity();
    renderPeers();
    renderProviders();
    renderAccess();
    renderProcesses();
    renderStylesheet();
  }

  function routingOf(id) {
    const r = id?.routing ?? {};
    if (r.Routers) return { kind: "indirect", routers: r.Routers };
    const d = r.Direct ?? r.Both;
    if (d) return { kind: "direct", ip: d.ip, ports: d.ports ?? {}, routers: r.Both?.routers };
    return { kind: "unknown" };
  }

  function renderIdentity() {
    const id = state.identity;
    const name = $("id-name");
    name.classList.toggle("skeleton-text", !id);
    name.textContent = id?.name ?? "\u00a0";
    avatar(id?.name ?? "?", $("id-avatar"));
    $("id-key").textContent = id?.networking_key ?? "unknown";
    const r = routingOf(id);
    const badge = $("id-routing-badge");
    badge.hidden = r.kind === "unknown";
    badge.className = r.kind === "direct" ? "badge ok" : "badge accent";
    badge.textContent = r.kind === "direct" ? "Direct" : "Routed";
    badge.title = r.kind === "direct"
      ? "Other nodes connect to this node directly"
      : "Other nodes reach this node through its routers";
    $("id-ip-row").hidden = !r.ip;
    $("id-ip").textContent = r.ip ?? "";
    const ports = Object.entries(r.ports ?? {});
    $("id-ports-row").hidden = ports.length === 0;
    $("id-ports").replaceChildren(
      ...ports.map(([proto, port]) => {
        const c = el("span", "chip");
        c.append(el("b", "", proto), document.createTextNode(String(port)));
        return c;
      }),
    );
    const routers = r.routers ?? [];
    $("id-routers-row").hidden = routers.length === 0;
    $("id-routers").replaceChildren(...routers.map((n) => el("span", "chip", n)));
  }

  function routeText(id) {
    const r = routingOf(id);
    if (r.kind === "direct") {
      const ports = Object.entries(r.ports).map(([p, n]) => `${p} ${n}`).join(", ");
      return `direct · ${r.ip}${ports ? ` · ${ports}` : ""}`;
    }
    if (r.kind === "indirect") {
      return r.routers.length ? `via ${r.routers.join(", ")}` : "routed, no routers";
    }
    return "";
  }

  function renderPeers() {
    const peers = state.peers ?? [];
    $("peer-count").textContent = String(peers.length);
    $("peers-empty").hidden = peers.length > 0;
    $("peers").replaceChildren(
      ...peers.map((p) => {
        const li = el("li", "row");
        li.dataset.peer = p.name;
        const main = el("div", "row-main");
        main.append(el("p", "row-title", p.name), el("p", "row-sub", routeText(p)));
        const key = el("code", "mono peer-key", shortKey(p.networking_key));
        key.title = p.networking_key;
        li.append(avatar(p.name), main, key);
        return li;
      }),
    );
    $("diagnostics").textContent = (state.diagnostics ?? "").replace(/\r\n/g, "\n").trimEnd();
  }

  /** chain id -> [name, short label, hue] */
  const CHAINS = {
    1: ["Ethereum", "ETH", 228],
    10: ["Optimism", "OP", 355],
    8453: ["Base", "BASE", 215],
    42161: ["Arbitrum One", "ARB", 200],
    11155111: ["Sepolia", "SEP", 265],
    31337: ["Local chain", "DEV", 150],
  };

  function providerName(p) {
    const v = p.provider ?? {};
    if (v.RpcUrl) {
      return { kind: "RPC", name: typeof v.RpcUrl === "string" ? v.RpcUrl : v.RpcUrl.url };
    }
    if (v.Node) {
      return { kind: "Node", name: v.Node.hns_update?.name ?? "?", use: v.Node.use_as_provider };
    }
    return { kind: "?", name: "?" };
  }

  function renderProviders() {
    const list = state.eth_rpc_providers ?? [];
    $("provider-count").textContent = String(list.length);
    $("providers-empty").hidden = list.length > 0;
    $("providers").replaceChildren(
      ...list.map((p) => {
        const { kind, name, use } = providerName(p);
        const li = el("li", "row");
        li.dataset.provider = `${p.chain_id} ${name}`;
        const known = CHAINS[p.chain_id];
        const chain = el("span", "chain", known?.[1] ?? "#");
        chain.style.setProperty("--h", String(known?.[2] ?? hue(String(p.chain_id))));
        chain.title = `Chain ${p.chain_id}`;
        chain.setAttribute("aria-hidden", "true");
        const main = el("div", "row-main");
        main.append(
          el("p", kind === "RPC" ? "row-title wrap" : "row-title", name),
          el("p", "row-sub", `${known?.[0] ?? "Chain"} · chain ${p.chain_id}`),
        );
        const meta = el("div", "row-meta");
        meta.append(el("span", kind === "Node" ? "badge accent" : "badge", kind));
        if (p.trusted) meta.append(el("span", "badge ok", "Trusted"));
        if (use === false) meta.append(el("span", "badge warn", "Not used"));
        const rm = el("button", "button small subtle-danger", "Remove");
        rm.type = "button";
        rm.setAttribute("aria-label", `Remove ${name} (chain ${p.chain_id})`);
        rm.addEventListener("click", () => removeProvider(p.chain_id, name, rm));
        meta.append(rm);
        li.append(chain, main, meta);
        return li;
      }),
    );
  }

  function renderAccess() {
    const a = state.eth_rpc_access_settings ?? { public: false, allow: [], deny: [] };
    const sw = $("access-public");
    sw.checked = a.public;
    $("access-label").textContent = a.public ? "Public" : "Private";
    $("access-explain").textContent = a.public
      ? "Public: any node that is not denied may use this node as its RPC provider."
      : "Private: only the nodes you allow may use this node as their RPC provider.";
    $("allow-box").classList.toggle("dim", a.public);
    $("allow-note").textContent = a.public
      ? "Only used while private: now every node not denied is served."
      : "May use this node while it is private.";
    chipList($("allow-list"), a.allow, "UnallowNode", "allowed");
    chipList($("deny-list"), a.deny, "UndenyNode", "denied");
  }

  function chipList(ul, nodes, removeAction, word) {
    if (nodes.length === 0) {
      ul.replaceChildren(el("li", "none", "No nodes"));
      return;
    }
    ul.replaceChildren(
      ...[...nodes].sort().map((n) => {
        const li = el("li", "chip", n);
        const x = el("button", "remove", "×");
        x.type = "button";
        x.setAttribute("aria-label", `Remove ${n} from ${word} nodes`);
        x.addEventListener(
          "click",
          () => ethConfig({ [removeAction]: n }, `${n} is no longer ${word}`),
        );
        li.append(x);
        return li;
      }),
    );
  }

  let expanded = new Set();

  function renderProcesses() {
    const map = state.process_map ?? {};
    const q = $("process-filter").value.trim().toLowerCase();
    const ids = Object.keys(map).sort((a, b) => {
      // apps first, then the runtime; by name
      const ra = !map[a].wasm_bytes_handle;
      const rb = !map[b].wasm_bytes_handle;
      return Number(ra) - Number(rb) || a.localeCompare(b);
    });
    const shown = q ? ids.filter((id) => id.toLowerCase().includes(q)) : ids;
    const apps = ids.filter((id) => map[id].wasm_bytes_handle).length;
    $("process-count").textContent = `${ids.length}`;
    $("process-count").title = `${apps} apps, ${ids.length - apps} runtime modules`;
    $("process-none").hidden = shown.length > 0;
    expanded = new Set([...expanded].filter((id) => id in map));
    const appRows = shown.filter((id) => map[id].wasm_bytes_handle);
    const runtimeRows = shown.filter((id) => !map[id].wasm_bytes_handle);
    const group = (label, n) => el("li", "group", `${label} · ${n}`);
    $("process-list").replaceChildren(
      ...(appRows.length ? [group("Apps", appRows.length)] : []),
      ...appRows.map((id) => processRow(id, map[id])),
      ...(runtimeRows.length ? [group("Runtime modules", runtimeRows.length)] : []),
      ...runtimeRows.map((id) => processRow(id, map[id])),
    );
  }

  const GEAR =
    '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M12 8.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7zm8 3.5-2.1-.7a6 6 0 0 0-.6-1.5l1-2-1.6-1.6-2 1a6 6 0 0 0-1.5-.6L12.5 4h-1l-.7 2.1a6 6 0 0 0-1.5.6l-2-1-1.6 1.6 1 2a6 6 0 0 0-.6 1.5L4 11.5v1l2.1.7c.1.5.3 1 .6 1.5l-1 2 1.6 1.6 2-1c.5.3 1 .5 1.5.6l.7 2.1h1l.7-2.1c.5-.1 1-.3 1.5-.6l2 1 1.6-1.6-1-2c.3-.5.5-1 .6-1.5l2.1-.7z" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/></svg>';

  function processRow(id, p) {
    const runtime = !p.wasm_bytes_handle;
    const self = id === "settings:settings:sys";
    const [proc, ...rest] = id.split(":");
    const li = el("li", "row");
    li.dataset.process = id;
    let icon;
    if (runtime) {
      icon = el("span", "proc-icon");
      icon.innerHTML = GEAR;
    } else {
      icon = avatar(proc);
    }
    const main = el("div", "row-main");
    const title = el("p", "row-title process-id");
    title.append(el("b", "", proc), el("span", "", `:${rest.join(":")}`));
    const sub = el("p", "row-sub");
    const onExit = typeof p.on_exit === "string" ? p.on_exit : "Requests";
    const caps = p.capabilities ?? [];
    sub.append(
      document.createTextNode(
        `${runtime ? "built in" : p.wasm_bytes_handle.split("/").pop()} · on exit: ${onExit}${
          p.public ? " · public" : ""
        } · `,
      ),
    );
    const toggle = el("button", "caps-toggle", `${caps.length} capabilities`);
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", String(expanded.has(id)));
    toggle.addEventListener("click", () => {
      if (expanded.has(id)) expanded.delete(id);
      else expanded.add(id);
      renderProcesses();
      document.querySelector(`[data-process="${CSS.escape(id)}"] .caps-toggle`)?.focus();
    });
    sub.append(toggle);
    main.append(title, sub);
    const meta = el("div", "row-meta");
    if (self) {
      const b = el("span", "badge accent", "This app");
      b.title = "Settings cannot stop itself";
      meta.append(b);
    } else if (!runtime) {
      const kill = el("button", "button small subtle-danger", "Stop");
      kill.type = "button";
      kill.setAttribute("aria-label", `Stop ${id}`);
      kill.addEventListener("click", () => killProcess(id, kill));
      meta.append(kill);
    }
    li.append(icon, main, meta);
    if (expanded.has(id)) {
      const ul = el("ul", "caps");
      for (const c of caps) {
        const item = el("li");
        let params = c.params;
        try {
          params = JSON.stringify(JSON.parse(c.params));
        } catch { /* as it is */ }
        item.append(el("span", "", `${c.issuer} `), document.createTextNode(params));
        ul.append(item);
      }
      if (caps.length === 0) ul.append(el("li", "", "none"));
      li.append(ul);
    }
    return li;
  }
  $("process-filter").addEventListener("input", () => state && renderProcesses());

  let cssDirty = false;
  function renderStylesheet() {
    // never overwrite what someone is typing
    if (cssDirty) return;
    $("css").value = state.stylesheet ?? "";
  }
  $("css").addEventListener("input", () => {
    cssDirty = true;
    $("css-status").textContent = "Unsaved changes";
  });

  // -------------------------------------------------------------------------
  // actions

  /** Runs `f` with `button` disabled; a failure is shown as a toast (and returned). */
  async function withButton(button, f) {
    if (button) button.disabled = true;
    setBusy(true);
    try {
      return await f();
    } finally {
      if (button) button.disabled = false;
      setBusy(false);
    }
  }

  async function ask(body) {
    const data = await api("/ask", body);
    return data;
  }

  /** An eth config change, then the new state. */
  async function ethConfig(req, done, errorEl, button) {
    if (errorEl) errorEl.hidden = true;
    try {
      await withButton(button, () => ask({ EthConfig: req }));
      toast(done);
      await load({ quiet: true });
      return true;
    } catch (e) {
      if (errorEl) {
        errorEl.textContent = e.message;
        errorEl.hidden = false;
      } else toast(e.message, true);
      return false;
    }
  }

  // providers

  const kindSel = $("provider-kind");
  function providerKind() {
    const node = kindSel.value === "Node";
    $("provider-target-label").textContent = node ? "Node name" : "URL";
    $("provider-target").placeholder = node
      ? "provider-node.os"
      : "wss://eth-mainnet.example.com/ws";
  }
  kindSel.addEventListener("change", providerKind);
  providerKind();

  $("provider-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const err = $("provider-error");
    const chainText = $("provider-chain").value.trim();
    const target = $("provider-target").value.trim();
    const invalid = (input, text) => {
      input.setAttribute("aria-invalid", "true");
      err.textContent = text;
      err.hidden = false;
      input.focus();
    };
    for (const i of form.querySelectorAll("input")) i.removeAttribute("aria-invalid");
    if (!/^\d+$/.test(chainText)) {
      return invalid($("provider-chain"), "Chain ID is a whole number, such as 1.");
    }
    if (!target) {
      return invalid(
        $("provider-target"),
        kindSel.value === "Node" ? "Enter the provider node's name." : "Enter the provider's URL.",
      );
    }
    const chain_id = Number(chainText);
    const ok = await ethConfig(
      { AddProvider: { chain_id, node_or_rpc_url: { [kindSel.value]: target } } },
      `Added ${target} for chain ${chain_id}`,
      err,
      form.querySelector("button[type=submit]"),
    );
    if (ok) $("provider-target").value = "";
    else $("provider-target").setAttribute("aria-invalid", "true");
  });

  async function removeProvider(chain, name, button) {
    const ok = await confirmDialog(
      "Remove this provider?",
      `${name} will no longer serve chain ${chain} for this node.`,
      "Remove",
    );
    if (!ok) return;
    await ethConfig({ RemoveProvider: [chain, name] }, `Removed ${name}`, undefined, button);
  }

  // access

  $("access-public").addEventListener("change", async (e) => {
    const sw = e.currentTarget;
    const want = sw.checked;
    sw.disabled = true;
    const ok = await ethConfig(
      want ? "SetPublic" : "SetPrivate",
      want ? "RPC access is now public" : "RPC access is now private",
    );
    sw.disabled = false;
    if (!ok) sw.checked = !want;
  });

  for (const form of document.querySelectorAll(".chip-form")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = form.querySelector("input");
      const err = form.parentElement.querySelector(".field-error");
      const node = input.value.trim();
      if (!node) {
        err.textContent = "Enter a node name.";
        err.hidden = false;
        input.focus();
        return;
      }
      const allow = form.dataset.list === "allow";
      const ok = await ethConfig(
        allow ? { AllowNode: node } : { DenyNode: node },
        allow ? `${node} is allowed` : `${node} is denied`,
        err,
        form.querySelector("button"),
      );
      if (ok) input.value = "";
    });
  }

  // network tools

  function identityDetails(id) {
    const dl = el("dl");
    const add = (k, v) => dl.append(el("dt", "", k), el("dd", "", v));
    add("Key", id.networking_key);
    const r = id.routing ?? {};
    if (r.Direct) {
      add("IP", r.Direct.ip);
      add("Ports", r.Direct.ports.map(([p, n]) => `${p} ${n}`).join(", ") || "none");
    } else if (r.Routers) {
      add("Routers", r.Routers.join(", ") || "none");
    }
    return dl;
  }

  function showResult(box, ok, title, extra) {
    box.className = `result ${ok ? "ok" : "bad"}`;
    box.replaceChildren(el("strong", "", title));
    if (extra) box.append(extra);
    box.hidden = false;
  }

  $("lookup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const node = $("lookup-node").value.trim();
    const box = $("lookup-result");
    if (!node) return showResult(box, false, "Enter a node name.");
    try {
      const data = await withButton(
        e.currentTarget.querySelector("button"),
        () => ask({ PeerId: node }),
      );
      if (data?.PeerId) showResult(box, true, data.PeerId.name, identityDetails(data.PeerId));
      else {showResult(
          box,
          false,
          `No record for ${node}`,
          el("p", "", "The network knows no node by that name."),
        );}
    } catch (err) {
      showResult(box, false, err.message);
    }
  });

  $("hi-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const node = $("hi-node").value.trim();
    const content = $("hi-content").value;
    const timeout = Number($("hi-timeout").value);
    const box = $("hi-result");
    if (!node) return showResult(box, false, "Enter a node name.");
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 120) {
      return showResult(box, false, "The timeout is 1 to 120 seconds.");
    }
    const button = e.currentTarget.querySelector("button");
    button.textContent = "Sending…";
    try {
      await withButton(button, () => ask({ Hi: { node, content, timeout } }));
      showResult(box, true, `${node} answered`);
      load({ quiet: true });
    } catch (err) {
      showResult(box, false, err.message);
    } finally {
      button.textContent = "Send";
    }
  });

  // processes

  async function killProcess(id, button) {
    const system = id.endsWith(":sys")
      ? " It is part of the node's own software: parts of the node may stop working."
      : "";
    const ok = await confirmDialog(
      `Stop ${id}?`,
      `It stops now and is removed from this node, capabilities and all. It does not come back until its package is installed again.${system}`,
      "Stop",
    );
    if (!ok) return;
    try {
      await withButton(button, () => ask({ KillProcess: id }));
      toast(`Stopped ${id}`);
      await load({ quiet: true });
    } catch (e) {
      toast(e.message, true);
    }
  }

  // stylesheet

  $("css-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    await saveCss($("css").value);
  });

  async function saveCss(css) {
    try {
      await withButton($("css-save"), () => ask({ SetStylesheet: css }));
      cssDirty = false;
      $("css-status").textContent = "Saved. Reload other pages to see it.";
      refreshStylesheetLink(css);
      toast("Stylesheet saved");
    } catch (e) {
      $("css-status").textContent = "";
      toast(e.message, true);
    }
  }

  /**
   * This page links /hyperware.css too: show the change here as soon as the homepage
   * serves it (it applies SetStylesheet after settings has answered).
   */
  async function refreshStylesheetLink(css) {
    const link = document.querySelector('link[href^="/hyperware.css"]');
    if (!link) return;
    for (let i = 0; i < 20; i++) {
      try {
        const res = await fetch("/hyperware.css", { cache: "no-store" });
        if ((await res.text()) === css) break;
      } catch { /* try again */ }
      await new Promise((r) => setTimeout(r, 150));
    }
    link.href = `/hyperware.css?v=${Date.now()}`;
  }

  $("css-default").addEventListener("click", async () => {
    const ok = await confirmDialog(
      "Restore the default stylesheet?",
      "Your changes to /hyperware.css are replaced by the one the node came with.",
      "Restore",
    );
    if (!ok) return;
    try {
      const res = await fetch(`${BASE}/default-stylesheet`, { credentials: "include" });
      if (!res.ok) throw new Error(`could not read the default stylesheet (${res.status})`);
      const css = await res.text();
      $("css").value = css;
      await saveCss(css);
    } catch (e) {
      toast(e.message, true);
    }
  });

  // verbosity

  const segs = [...document.querySelectorAll("#verbosity button")];
  function showVerbosity(level, note, enabled) {
    for (const b of segs) {
      b.setAttribute("aria-checked", String(Number(b.dataset.level) === level));
      b.disabled = !enabled;
    }
    $("verbosity-note").textContent = note;
  }
  async function loadVerbosity() {
    showVerbosity(-1, "Checking…", false);
    try {
      const v = await api("/verbosity");
      showVerbosity(v.level, "", true);
    } catch (e) {
      showVerbosity(-1, e.code === "Unsupported" ? capitalize(e.message) : e.message, false);
    }
  }
  function capitalize(s) {
    return s ? s[0].toUpperCase() + s.slice(1) + (s.endsWith(".") ? "" : ".") : s;
  }
  for (const b of segs) {
    b.addEventListener("click", async () => {
      const level = Number(b.dataset.level);
      try {
        const v = await api("/verbosity", { level });
        showVerbosity(v.level, "", true);
        toast(`Verbosity ${v.level}`);
      } catch (e) {
        toast(e.message, true);
      }
    });
  }

  // system

  $("shutdown").addEventListener("click", async () => {
    const ok = await confirmDialog(
      "Shut down your node?",
      "Every app stops and this page goes offline. You will need to start the node again on the machine it runs on.",
      "Shut down",
    );
    if (!ok) return;
    try {
      await ask("Shutdown");
    } catch { /* the node may be gone before it answers */ }
    gone = true;
    $("gone").hidden = false;
  });

  $("reset-hns").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const ok = await confirmDialog(
      "Reset HNS state?",
      "The name indexer starts over and reads every name from the chain again. Names may be missing until it catches up.",
      "Reset",
    );
    if (!ok) return;
    try {
      await withButton(button, () => ask("Reset"));
      toast("HNS state is being rebuilt");
    } catch (err) {
      toast(err.message, true);
    }
  });

  // copy buttons

  for (const b of document.querySelectorAll("[data-copy]")) {
    b.addEventListener("click", async () => {
      const text = $(b.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        toast("Copied");
      } catch {
        // no clipboard (plain http on another host): select it for Ctrl+C
        const range = document.createRange();
        range.selectNodeContents($(b.dataset.copy));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        toast("Selected: press Ctrl+C to copy");
      }
    });
  }

  // confirmation dialog

  function confirmDialog(title, text, okLabel) {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    d.returnValue = "";
    d.showModal();
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    });
  }

  // section navigation: the section in view is marked current

  const links = [...document.querySelectorAll("[data-nav]")];
  const sections = links.map((a) => $(a.dataset.nav));
  function markCurrent() {
    const y = window.innerHeight * 0.3;
    let current = sections[0];
    for (const s of sections) if (s.getBoundingClientRect().top <= y) current = s;
    if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 4) {
      current = sections[sections.length - 1];
    }
    for (const a of links) a.setAttribute("aria-current", String(a.dataset.nav === current.id));
  }
  addEventListener("scroll", markCurrent, { passive: true });
  addEventListener("resize", markCurrent);
  markCurrent();

  // -------------------------------------------------------------------------

  $("home-link").href = homeUrl();
  if (window.our?.node) $("node-name").textContent = window.our.node;
  load().then(() => {
    if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
  });
  connect();
  loadVerbosity();
})();
