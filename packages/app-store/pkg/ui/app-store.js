// deno-lint-ignore-file no-window -- browser code: window is the page
// The App Store's page: Hyperdrive's app-store HTTP API below /main:app-store:sys
// (/apps, /installed, /downloads, /manifest, /mirrorcheck, /apps/:id/download, /install,
// DELETE /apps/:id, mirror and auto-update toggles), download progress from the WebSocket
// at "/" ({"kind": "progress" | "complete", "data"}). Views by location hash:
// #/ (discover), #/app/<package:publisher>, #/my-apps, #/downloads.
"use strict";

(() => {
  const BASE = "/main:app-store:sys";
  const $ = (id) => document.getElementById(id);

  /** what the node told us last */
  const data = {
    apps: [],
    installed: [],
    /** package id -> [{name, size, manifest}] */
    files: new Map(),
    /** package id -> mirroring */
    mirroring: new Map(),
    /** package id -> homepage app with a path (for "Open") */
    tiles: new Map(),
    /** package id -> a homepage label */
    labels: new Map(),
    loaded: false,
    error: null,
  };
  /** "<pkg>/<hash>" -> {downloaded, total, error?, done?} while a download runs here */
  const transfers = new Map();
  /** "<pkg>/<node>" -> {is_online, error} */
  const mirrorChecks = new Map();
  let query = "";

  // -------------------------------------------------------------------------
  // helpers

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  /** A path segment: package ids keep their ":" as Hyperdrive's UI sends them. */
  const enc = (s) => encodeURIComponent(s).replace(/%3A/gi, ":");
  const pidOf = (p) => `${p.package_name}:${p.publisher_node}`;
  const shortHash = (h) => (h && h.length > 16 ? `${h.slice(0, 8)}…${h.slice(-6)}` : h || "—");

  function hue(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function avatar(name, image, size = "") {
    const a = el("span", { class: `avatar ${size}`.trim(), "aria-hidden": "true" });
    a.style.setProperty("--h", String(hue(name)));
    if (image && /^(https?:|data:image\/)/.test(image)) {
      a.classList.add("image");
      a.style.backgroundImage = `url("${image.replace(/"/g, "%22")}")`;
    }
    a.textContent = [...name][0] ?? "?";
    return a;
  }

  function bytes(n) {
    if (!Number.isFinite(n)) return "—";
    if (n < 1024) return `${n} B`;
    if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
    if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
    return `${(n / 1024 ** 3).toFixed(2)} GB`;
  }

  function toast(text, bad = false) {
    const t = el("div", { class: bad ? "toast bad" : "toast", text });
    $("toasts").append(t);
    setTimeout(() => t.remove(), bad ? 7000 : 3500);
  }

  function homeUrl() {
    const [first, ...rest] = location.hostname.split(".");
    if (first === "app-store-sys" && rest.length > 0) {
      return `${location.protocol}//${rest.join(".")}${location.port ? `:${location.port}` : ""}/`;
    }
    return "/";
  }

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    let res;
    try {
      res = await fetch(BASE + path, {
        method,
        credentials: "include",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError("The node did not answer. Is it running?", 0);
    }
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const msg = json && typeof json.error === "string" ? json.error : text || res.statusText;
      throw new ApiError(msg, res.status);
    }
    return json;
  }

  function versionHash(app) {
    const p = app?.metadata?.properties;
    if (!p) return null;
    const hit = (p.code_hashes ?? []).find(([v]) => v === p.current_version);
    return hit ? hit[1] : null;
  }

  function appName(app, id) {
    if (app?.metadata?.name) return app.metadata.name;
    const label = data.tiles.get(id)?.label ?? data.labels.get(id);
    if (label) return label;
    const n = id.split(":")[0];
    return n.charAt(0).toUpperCase() + n.slice(1).replace(/-/g, " ");
  }

  function installedOf(id) {
    return data.installed.find((p) => pidOf(p.package_id) === id);
  }

  function isSystem(id) {
    return id.endsWith(":sys");
  }

  // -------------------------------------------------------------------------
  // loading

  async function load() {
    try {
      const [apps, installed, downloads, tiles] = await Promise.all([
        api("GET", "/apps"),
        api("GET", "/installed"),
        api("GET", "/downloads"),
        api("GET", "/homepageapps").catch(() => null),
      ]);
      data.apps = apps ?? [];
      data.installed = installed ?? [];
      data.mirroring.clear();
      const dirs = (downloads ?? []).filter((e) => e.Dir).map((e) => e.Dir);
      for (const d of dirs) data.mirroring.set(d.name, d.mirroring);
      data.files.clear();
      await Promise.all(dirs.map(async (d) => {
        try {
          const list = await api("GET", `/downloads/${enc(d.name)}`);
          data.files.set(d.name, (list ?? []).filter((e) => e.File).map((e) => e.File));
        } catch {
          data.files.set(d.name, []);
        }
      }));
      data.tiles.clear();
      data.labels.clear();
      for (const t of tiles?.GetApps ?? []) {
        const id = `${t.package_name}:${t.publisher}`;
        if (t.label && !data.labels.has(id)) data.labels.set(id, t.label);
        if (t.path) data.tiles.set(id, t);
      }
      data.loaded = true;
      data.error = null;
    } catch (e) {
      data.error = e.message;
    }
    document.body.dataset.state = data.error ? "error" : "ready";
    render();
  }

  // -------------------------------------------------------------------------
  // the WebSocket: download progress

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}${BASE}/`);
    } catch {
      return;
    }
    ws.onmessage = (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      const d = m?.data;
      if (!d?.package_id) return;
      const key = `${pidOf(d.package_id)}/${d.version_hash}`;
      if (m.kind === "progress") {
        transfers.set(key, { downloaded: d.downloaded, total: d.total });
        updateProgress(key);
      } else if (m.kind === "complete") {
        const was = transfers.get(key) ?? {};
        if (d.error) {
          transfers.set(key, { ...was, error: describeError(d.error), done: true });
          toast(`Download failed: ${describeError(d.error)}`, true);
        } else {
          transfers.set(key, {
            downloaded: was.total ?? was.downloaded ?? 0,
            total: was.total ?? 0,
            done: true,
          });
          toast(`Downloaded ${pidOf(d.package_id)}`);
        }
        load();
      }
    };
    ws.onclose = () => setTimeout(connect, 2000);
  }

  function describeError(e) {
    if (typeof e === "string") {
      return ({
        Offline: "the mirror is offline",
        Timeout: "the mirror stopped answering",
        NotMirroring: "that node does not mirror this app",
        FileNotFound: "the mirror does not have this version",
        InvalidManifest: "the package is not a valid app",
        HttpClientError: "the download URL failed",
        VfsError: "could not store the file",
        NoPackage: "no such package",
      })[e] ?? e;
    }
    if (e && e.HashMismatch) return "the bytes received do not match the version hash";
    return JSON.stringify(e);
  }

  /** Updates progress bars in place (no re-render while bytes stream in). */
  function updateProgress(key) {
    const t = transfers.get(key);
    for (const bar of document.querySelectorAll(`[data-transfer="${CSS.escape(key)}"]`)) {
      const pct = t.total > 0 ? Math.min(100, (t.downloaded / t.total) * 100) : 0;
      const fill = bar.querySelector(".progress > span");
      const label = bar.querySelector(".progress-label");
      const track = bar.querySelector(".progress");
      track.classList.toggle("indeterminate", !(t.total > 0));
      track.setAttribute("aria-valuenow", String(Math.round(pct)));
      bar.dataset.percent = String(Math.round(pct));
      if (fill) fill.style.width = `${pct}%`;
      if (label) {
        label.firstChild.textContent = t.total > 0
          ? `${bytes(t.downloaded)} of ${bytes(t.total)}`
          : "Connecting to the mirror…";
        label.lastChild.textContent = t.total > 0 ? `${Math.round(pct)}%` : "";
      }
    }
    renderCounts();
  }

  function progressBar(key) {
    const t = transfers.get(key) ?? { downloaded: 0, total: 0 };
    const pct = t.total > 0 ? Math.min(100, (t.downloaded / t.total) * 100) : 0;
    return el(
      "div",
      { class: "transfer", "data-transfer": key, "data-percent": String(Math.round(pct)) },
      el(
        "div",
        {
          class: t.total > 0 ? "progress" : "progress indeterminate",
          role: "progressbar",
          "aria-valuemin": "0",
          "aria-valuemax": "100",
          "aria-valuenow": String(Math.round(pct)),
          "aria-label": "Download progress",
        },
        el("span", { style: `width:${pct}%` }),
      ),
      el(
        "div",
        { class: "progress-label" },
        el("span", {
          text: t.total > 0
            ? `${bytes(t.downloaded)} of ${bytes(t.total)}`
            : "Connecting to the mirror…",
        }),
        el("span", { text: t.total > 0 ? `${Math.round(pct)}%` : "" }),
      ),
    );
  }

  // -------------------------------------------------------------------------
  // views

  function render() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const view = $("view");
    view.replaceChildren();
    let tab = "discover";
    if (!data.loaded && !data.error) {
      view.append(
        el("div", { class: "section grid" }, [1, 2, 3].map(() => el("div", { class: "skeleton" }))),
      );
    } else if (data.error && !data.loaded) {
      view.append(
        el(
          "div",
          { class: "banner", role: "alert" },
          el("span", { text: `Could not load the App Store: ${data.error}` }),
          el("button", { class: "button small", type: "button", onclick: load, text: "Try again" }),
        ),
      );
    } else if (hash.startsWith("/app/")) {
      renderApp(view, decodeURIComponent(hash.slice(5)));
    } else if (hash === "/my-apps") {
      tab = "my-apps";
      renderMyApps(view);
    } else if (hash === "/downloads") {
      tab = "downloads";
      renderDownloads(view);
    } else {
      renderDiscover(view);
    }
    for (const a of document.querySelectorAll(".tabs a")) {
      if (a.dataset.tab === tab && !hash.startsWith("/app/")) {
        a.setAttribute("aria-current", "page");
      } else a.removeAttribute("aria-current");
    }
    renderCounts();
  }

  function renderCounts() {
    const userApps = data.installed.filter((p) => !isSystem(pidOf(p.package_id)));
    $("installed-count").textContent = data.loaded ? String(userApps.length || "") : "";
    const active = [...transfers.values()].filter((t) => !t.done).length;
    const c = $("active-count");
    c.textContent = active ? String(active) : "";
    c.classList.toggle("live", active > 0);
  }

  function matches(app) {
    if (!query) return true;
    const m = app.metadata ?? {};
    const hay = [m.name, m.description, pidOf(app.package_id), app.package_id.publisher_node]
      .filter(Boolean).join(" ").toLowerCase();
    return query.split(/\s+/).every((w) => hay.includes(w));
  }

  function appCard(app) {
    const id = pidOf(app.package_id);
    const name = appName(app, id);
    const inst = installedOf(id);
    const latest = versionHash(app);
    const badge = inst
      ? (latest && inst.our_version_hash && inst.our_version_hash !== latest
        ? el("span", { class: "badge warn", text: "Update" })
        : el("span", { class: "badge ok", text: "Installed" }))
      : el("span", {
        class: "badge",
        text: app.metadata?.properties?.current_version
          ? `v${app.metadata.properties.current_version}`
          : "Listed",
      });
    return el(
      "a",
      { class: "app-card", href: `#/app/${enc(id)}`, "data-app": id },
      el(
        "div",
        { class: "head" },
        avatar(name, app.metadata?.image),
        el(
          "div",
          { class: "names" },
          el("div", { class: "name", text: name }),
          el("div", { class: "by", text: app.package_id.publisher_node }),
        ),
      ),
      el("p", { class: "desc", text: app.metadata?.description || "No description yet." }),
      el(
        "div",
        { class: "foot" },
        badge,
        el("span", { class: "muted small-text", text: "View →" }),
      ),
    );
  }

  function emptyState(title, text, ...extra) {
    return el(
      "div",
      { class: "empty" },
      el("span", {}, svgIcon()),
      el("h3", { text: title }),
      el("p", { text }),
      ...extra,
    );
  }

  function svgIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const s = document.createElementNS(ns, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("width", "34");
    s.setAttribute("height", "34");
    s.setAttribute("aria-hidden", "true");
    const p = document.createElementNS(ns, "path");
    p.setAttribute(
      "d",
      "M5 8h14l-1.2 11.1a1 1 0 0 1-1 .9H7.2a1 1 0 0 1-1-.9zM9 8V7a3 3 0 0 1 6 0v1",
    );
    p.setAttribute("fill", "none");
    p.setAttribute("stroke", "currentColor");
    p.setAttribute("stroke-width", "1.6");
    p.setAttribute("stroke-linejoin", "round");
    s.append(p);
    return s;
  }

  function renderDiscover(view) {
    const listed = data.apps.filter((a) => a.metadata);
    const userInstalled = data.installed.filter((p) => !isSystem(pidOf(p.package_id)));
    const mirrored = [...data.mirroring.values()].filter(Boolean).length;
    view.append(
      el(
        "section",
        { class: "hero", "aria-label": "Overview" },
        el(
          "div",
          {},
          el("h2", { text: "Apps for your node" }),
          el("p", {
            text:
              "Listed on Hypermap, shared node to node. Everything you install runs on your own node, with only the capabilities you approve.",
          }),
        ),
        el(
          "div",
          { class: "stats" },
          el(
            "div",
            { class: "stat" },
            el("b", { text: String(listed.length) }),
            el("span", { text: "listed" }),
          ),
          el(
            "div",
            { class: "stat" },
            el("b", { text: String(userInstalled.length) }),
            el("span", { text: "installed" }),
          ),
          el(
            "div",
            { class: "stat" },
            el("b", { text: String(mirrored) }),
            el("span", { text: "mirrored" }),
          ),
        ),
      ),
    );
    const shown = data.apps.filter(matches);
    const section = el(
      "section",
      { class: "section", "aria-labelledby": "listed-title" },
      el(
        "div",
        { class: "section-head" },
        el("h2", {
          class: "section-title",
          id: "listed-title",
          text: query ? `Results for “${query}”` : "On Hypermap",
        }),
        el("span", {
          class: "muted small-text",
          text: `${shown.length} app${shown.length === 1 ? "" : "s"}`,
        }),
      ),
    );
    if (shown.length === 0) {
      section.append(
        query
          ? emptyState(
            "Nothing matches",
            "Try another name, or the app's package id (package:publisher).",
          )
          : emptyState(
            "No apps listed yet",
            "Apps appear here as publishers list them on Hypermap. You can still get an app straight from a node that mirrors it, below.",
          ),
      );
    } else {
      section.append(el("div", { class: "grid", id: "app-grid" }, shown.map(appCard)));
    }
    view.append(section, sideloadCard());
  }

  /** Get an app from a node by package id and version hash (no listing needed). */
  function sideloadCard() {
    const err = el("p", { class: "field-error", role: "alert", hidden: true });
    const form = el(
      "form",
      {
        class: "card get",
        id: "sideload",
        onsubmit: (e) => {
          e.preventDefault();
          const f = new FormData(form);
          const id = String(f.get("id") ?? "").trim();
          const node = String(f.get("node") ?? "").trim();
          const hash = String(f.get("hash") ?? "").trim().toLowerCase();
          const why = !/^[a-z0-9-]+:[a-z0-9.-]+$/.test(id)
            ? "The package id looks like name:publisher.os."
            : !/^[a-z0-9.-]+$/.test(node)
            ? "The node is a name like alice.os."
            : !/^[0-9a-f]{64}$/.test(hash)
            ? "The version hash is 64 hexadecimal characters."
            : "";
          err.hidden = !why;
          err.textContent = why;
          if (why) return;
          startDownload(id, node, hash).then(() => (location.hash = `#/app/${enc(id)}`));
        },
      },
      el("h3", { text: "Get an app from a node" }),
      el("p", {
        class: "muted small-text",
        text:
          "For an app that is not listed: the node must mirror it. Ask its publisher for the version hash.",
      }),
      el(
        "label",
        { class: "field" },
        el("span", { text: "Package" }),
        el("input", {
          type: "text",
          name: "id",
          placeholder: "notes:alice.os",
          autocomplete: "off",
          spellcheck: "false",
        }),
      ),
      el(
        "label",
        { class: "field" },
        el("span", { text: "From node" }),
        el("input", {
          type: "text",
          name: "node",
          placeholder: "alice.os",
          autocomplete: "off",
          spellcheck: "false",
        }),
      ),
      el(
        "label",
        { class: "field" },
        el("span", { text: "Version hash" }),
        el("input", {
          type: "text",
          name: "hash",
          placeholder: "sha256 of the package zip",
          autocomplete: "off",
          spellcheck: "false",
          class: "mono",
        }),
      ),
      err,
      el("div", {}, el("button", { class: "button primary", type: "submit", text: "Download" })),
    );
    return el("section", { class: "section", "aria-label": "Get an app from a node" }, form);
  }

  // ---------------------------------------------------------------- the app page

  function renderApp(view, id) {
    const app = data.apps.find((a) => pidOf(a.package_id) === id);
    const inst = installedOf(id);
    const name = appName(app, id);
    const latest = versionHash(app);
    const files = data.files.get(id) ?? [];
    const props = app?.metadata?.properties;
    view.append(el("a", { class: "back", href: "#/", text: "← All apps" }));

    const badges = [];
    if (inst) badges.push(el("span", { class: "badge ok", text: "Installed" }));
    if (inst && latest && inst.our_version_hash && inst.our_version_hash !== latest) {
      badges.push(el("span", { class: "badge warn", text: "Update available" }));
    }
    if (isSystem(id)) badges.push(el("span", { class: "badge", text: "System" }));
    if (data.mirroring.get(id)) {
      badges.push(el("span", { class: "badge accent", text: "Mirroring" }));
    }
    if (props?.current_version) {
      badges.push(el("span", { class: "badge", text: `v${props.current_version}` }));
    }

    const actions = el("div", { class: "actions" });
    const tile = data.tiles.get(id);
    if (inst && tile) {
      actions.append(
        el("a", {
          class: "button primary",
          href: homeUrl().replace(/\/$/, "") + tile.path,
          text: "Open",
        }),
      );
    }
    if (inst && !isSystem(id)) {
      actions.append(
        el("button", {
          class: "button subtle-danger",
          type: "button",
          id: "uninstall",
          onclick: () => confirmUninstall(id, name),
          text: "Uninstall",
        }),
      );
    }
    const t = latest ? transfers.get(`${id}/${latest}`) : undefined;
    const haveLatest = latest && files.some((f) => f.name === `${latest}.zip`);
    if (latest && inst?.our_version_hash !== latest && !(t && !t.done)) {
      actions.prepend(
        haveLatest
          ? el("button", {
            class: "button primary",
            type: "button",
            onclick: () => approveAndInstall(id, latest, app),
            text: inst ? "Update" : "Install",
          })
          : el("button", {
            class: "button primary",
            type: "button",
            onclick: () => $("download")?.click(),
            text: inst ? "Get update" : "Get",
          }),
      );
    }

    view.append(
      el(
        "section",
        { class: "card app-hero", "data-app-page": id },
        avatar(name, app?.metadata?.image, "large"),
        el(
          "div",
          {},
          el("h2", { id: "app-name", text: name }),
          el("p", { class: "by", text: `by ${id.split(":")[1]}` }),
          el("div", { class: "badges" }, badges),
        ),
        actions,
      ),
    );

    const left = el("div", { class: "stack" });
    const right = el("div", { class: "stack side" });
    left.append(
      el(
        "section",
        { class: "card" },
        el("h3", { text: "About" }),
        el("p", {
          class: "about",
          text: app?.metadata?.description ||
            (app
              ? "No description."
              : "This app is not listed on Hypermap. Get it from a node that mirrors it."),
        }),
      ),
    );
    const facts = [
      ["Package", el("code", { text: id })],
      ["Version", props?.current_version ?? "—"],
      ["Latest hash", latest ? el("span", { class: "hash", text: latest }) : "—"],
      [
        "Installed",
        inst
          ? (inst.our_version_hash
            ? el("span", { class: "hash", text: inst.our_version_hash })
            : "with the node")
          : "no",
      ],
      ["License", props?.license ?? "—"],
      [
        "Mirrors",
        props
          ? [props.publisher, ...(props.mirrors ?? [])].filter((m, i, a) => m && a.indexOf(m) === i)
            .join(", ")
          : "—",
      ],
    ];
    left.append(
      el(
        "section",
        { class: "card" },
        el("h3", { text: "Details" }),
        el(
          "dl",
          { class: "facts" },
          facts.map(([k, v]) =>
            el("div", { class: "fact" }, el("dt", { text: k }), el("dd", {}, v))
          ),
        ),
      ),
    );
    right.append(getCard(id, app, latest, inst, files));
    if (files.length || data.mirroring.has(id)) right.append(localCopies(id, files));
    view.append(el("div", { class: "columns" }, left, right));
  }

  /** Download (from a mirror) and install. */
  function getCard(id, app, latest, inst, files) {
    const card = el("section", { class: "card get", id: "get" });
    card.append(el("h3", { text: inst ? "Versions" : "Get this app" }));
    const haveLatest = latest && files.some((f) => f.name === `${latest}.zip`);
    const key = latest ? `${id}/${latest}` : null;
    const t = key ? transfers.get(key) : undefined;

    if (inst && app) {
      card.append(
        el(
          "label",
          { class: "switch" },
          el("input", {
            type: "checkbox",
            id: "auto-update",
            checked: !!app.auto_update,
            onchange: async (e) => {
              const on = e.target.checked;
              try {
                await api(on ? "PUT" : "DELETE", `/apps/${enc(id)}/auto-update`);
                toast(on ? "Updates install by themselves" : "Auto-update is off");
              } catch (err) {
                e.target.checked = !on;
                toast(err.message, true);
              }
              load();
            },
          }),
          el("span", { class: "track" }, el("span", { class: "thumb" })),
          "Install updates automatically",
        ),
      );
    }
    if (latest && inst?.our_version_hash === latest) {
      card.append(el("p", { class: "status ok", text: "You have the latest version." }));
      return card;
    }
    if (t && !t.done) {
      card.append(
        el("p", { class: "muted small-text", text: "Downloading from a mirror…" }),
        progressBar(key),
      );
      return card;
    }
    if (t?.error) {
      card.append(
        el("p", { class: "status bad", role: "alert", text: `Download failed: ${t.error}` }),
      );
    }
    if (haveLatest) {
      card.append(
        el("p", {
          class: "muted small-text",
          text: `Version ${
            app?.metadata?.properties?.current_version ?? shortHash(latest)
          } is downloaded.`,
        }),
        el("button", {
          class: "button primary",
          type: "button",
          id: "install",
          onclick: () => approveAndInstall(id, latest, app),
          text: inst ? "Update" : "Install",
        }),
      );
      return card;
    }
    if (!latest) {
      // not listed: downloaded versions can be installed, else get one from a node
      const local = files.filter((f) => f.name.endsWith(".zip"));
      if (local.length) {
        for (const f of local) {
          const h = f.name.replace(/\.zip$/, "");
          card.append(
            el(
              "div",
              { class: "row" },
              el(
                "div",
                { class: "row-main" },
                el("div", { class: "row-title" }, el("code", { text: shortHash(h), title: h })),
                el("div", { class: "row-sub", text: bytes(f.size) }),
              ),
              el("button", {
                class: "button small primary",
                type: "button",
                onclick: () => approveAndInstall(id, h, app),
                text: inst?.our_version_hash === h ? "Reinstall" : "Install",
              }),
            ),
          );
        }
      } else {
        card.append(
          el("p", {
            class: "muted small-text",
            text:
              "Not listed on Hypermap: use “Get an app from a node” on Discover with its version hash.",
          }),
        );
      }
      return card;
    }
    // mirrors to download from: the publisher first, then the listing's mirrors
    const props = app.metadata.properties;
    const mirrors = [props.publisher, ...(props.mirrors ?? [])].filter((m, i, a) =>
      m && a.indexOf(m) === i
    );
    const list = el("ul", { class: "mirrors", role: "radiogroup", "aria-label": "Download from" });
    mirrors.forEach((m, i) => {
      const check = mirrorChecks.get(`${id}/${m}`);
      const dot = el("span", {
        class: check ? (check.is_online && !check.error ? "dot on" : "dot off") : "dot",
        title: check ? (check.error ?? "online") : "checking…",
      });
      list.append(
        el(
          "li",
          {},
          el(
            "label",
            { class: "mirror" },
            el("input", { type: "radio", name: "mirror", value: m, checked: i === 0 }),
            el("span", { class: "who", text: m }),
            el("span", {
              class: "muted small-text",
              text: check ? (check.is_online && !check.error ? "online" : "unavailable") : "",
            }),
            dot,
          ),
        ),
      );
      if (!check) checkMirror(id, m);
    });
    card.append(
      el("div", { class: "field" }, el("span", { text: "Download from" }), list),
      el("button", {
        class: "button primary",
        type: "button",
        id: "download",
        onclick: () => {
          const m = card.querySelector('input[name="mirror"]:checked')?.value ?? mirrors[0];
          startDownload(id, m, latest);
        },
        text: `Download ${props.current_version ? `v${props.current_version}` : ""}`.trim(),
      }),
    );
    return card;
  }

  async function checkMirror(id, node) {
    const k = `${id}/${node}`;
    mirrorChecks.set(k, null);
    try {
      const r = await api("GET", `/mirrorcheck/${enc(id)}/${enc(node)}`);
      mirrorChecks.set(k, r);
    } catch (e) {
      mirrorChecks.set(k, { is_online: false, error: e.message });
    }
    if (location.hash.startsWith("#/app/")) render();
  }

  function localCopies(id, files) {
    const mirroring = !!data.mirroring.get(id);
    const sw = el(
      "label",
      { class: "switch" },
      el("input", {
        type: "checkbox",
        id: "mirror-toggle",
        checked: mirroring,
        onchange: async (e) => {
          const on = e.target.checked;
          try {
            await api(on ? "PUT" : "DELETE", `/downloads/${enc(id)}/mirror`);
            toast(on ? `Now mirroring ${id}` : `Stopped mirroring ${id}`);
          } catch (err) {
            e.target.checked = !on;
            toast(err.message, true);
          }
          load();
        },
      }),
      el("span", { class: "track" }, el("span", { class: "thumb" })),
      "Mirror for others",
    );
    return el(
      "section",
      { class: "card" },
      el("div", { class: "group-head" }, el("h3", { text: "On this node" }), sw),
      files.length
        ? el("ul", { class: "rows" }, files.map((f) => fileRow(id, f)))
        : el("p", { class: "muted small-text", text: "No downloaded versions." }),
    );
  }

  function fileRow(id, f) {
    const h = f.name.replace(/\.zip$/, "");
    const inst = installedOf(id);
    return el(
      "li",
      { class: "row" },
      el(
        "div",
        { class: "row-main" },
        el(
          "div",
          { class: "row-title" },
          el("code", { text: shortHash(h), title: h }),
          inst?.our_version_hash === h
            ? el("span", { class: "badge ok", text: "Installed" })
            : null,
        ),
        el("div", { class: "row-sub", text: bytes(f.size) }),
      ),
      el(
        "div",
        { class: "row-actions" },
        el("button", {
          class: "button small",
          type: "button",
          "data-install": h,
          onclick: () =>
            approveAndInstall(id, h, data.apps.find((a) => pidOf(a.package_id) === id)),
          text: inst?.our_version_hash === h ? "Reinstall" : "Install",
        }),
        el("button", {
          class: "button small subtle-danger",
          type: "button",
          onclick: async () => {
            try {
              await api("POST", `/downloads/${enc(id)}/remove`, { version_hash: h });
              toast("Removed the download");
            } catch (e) {
              toast(e.message, true);
            }
            load();
          },
          text: "Remove",
        }),
      ),
    );
  }

  async function startDownload(id, node, hash) {
    const key = `${id}/${hash}`;
    transfers.set(key, { downloaded: 0, total: 0 });
    render();
    try {
      await api("POST", `/apps/${enc(id)}/download`, { download_from: node, version_hash: hash });
    } catch (e) {
      transfers.set(key, { downloaded: 0, total: 0, error: e.message, done: true });
      toast(e.message, true);
      render();
    }
  }

  // ---------------------------------------------------------------- capability approval

  function capName(v) {
    const sort = (x) => {
      if (Array.isArray(x)) return x.map(sort);
      if (x && typeof x === "object") {
        const o = {};
        for (const k of Object.keys(x).sort()) o[k] = sort(x[k]);
        return o;
      }
      return x;
    };
    if (typeof v === "string") return { name: v, what: "send it messages" };
    if (v && typeof v === "object" && typeof v.process === "string") {
      const params = JSON.stringify(sort(v.params));
      if (params === '"messaging"') return { name: v.process, what: "send it messages" };
      return { name: `${v.process} ${params}`, what: params };
    }
    return { name: JSON.stringify(v), what: "" };
  }

  async function approveAndInstall(id, hash, app) {
    let manifest;
    try {
      const m = await api("GET", `/manifest?id=${enc(id)}&version_hash=${enc(hash)}`);
      manifest = JSON.parse(m.manifest);
      if (!Array.isArray(manifest)) throw new Error("the package's manifest is not a list");
    } catch (e) {
      toast(`Cannot read this version's manifest: ${e.message}`, true);
      return;
    }
    const dlg = $("approve");
    const name = appName(app, id);
    $("approve-title").textContent = `Install ${name}?`;
    const av = avatar(name, app?.metadata?.image, "large");
    av.id = "approve-avatar";
    $("approve-avatar").replaceWith(av);
    const list = $("approve-list");
    list.replaceChildren();
    for (const p of manifest) {
      const group = el(
        "div",
        { class: "cap-group" },
        el("h4", { text: `${p.process_name}:${id}` }),
      );
      const caps = [...(p.request_capabilities ?? []).map(capName)];
      if (p.request_networking) caps.push({ name: "networking", what: "talk to other nodes" });
      if (caps.length === 0) {
        group.append(el("p", { class: "muted small-text", text: "No capabilities." }));
      }
      for (const c of caps) {
        const [proc, ...rest] = c.name.split(" ");
        group.append(
          el(
            "label",
            { class: "cap" },
            el("input", { type: "checkbox", value: c.name, checked: true, "data-cap": c.name }),
            el(
              "span",
              {},
              c.name === "networking" ? "Networking" : proc,
              el("small", {
                text: c.name === "networking" ? c.what : rest.length ? rest.join(" ") : c.what,
              }),
            ),
          ),
        );
      }
      list.append(group);
    }
    $("approve-error").hidden = true;
    $("approve-ok").disabled = false;
    dlg.returnValue = "";
    dlg.showModal();
    const choice = await new Promise((resolve) =>
      dlg.addEventListener("close", () => resolve(dlg.returnValue), { once: true })
    );
    if (choice !== "ok") return;
    const approved = [
      ...new Set([...list.querySelectorAll("input[data-cap]:checked")].map((i) => i.value)),
    ];
    try {
      await api("POST", `/apps/${enc(id)}/install`, {
        version_hash: hash,
        approved_capabilities: approved,
      });
      toast(`Installed ${name}`);
    } catch (e) {
      toast(`Not installed: ${e.message}`, true);
      const banner = el(
        "div",
        { class: "banner", role: "alert", id: "install-error" },
        el("span", { text: `Not installed: ${e.message}` }),
      );
      $("view").prepend(banner);
      return;
    }
    await load();
  }

  function confirmUninstall(id, name) {
    const dlg = $("confirm");
    $("confirm-title").textContent = `Uninstall ${name}?`;
    $("confirm-text").textContent =
      `${id} stops, its capabilities are revoked and its files removed. Downloaded versions stay in Downloads.`;
    dlg.returnValue = "";
    dlg.showModal();
    dlg.addEventListener("close", async () => {
      if (dlg.returnValue !== "ok") return;
      try {
        await api("DELETE", `/apps/${enc(id)}`);
        toast(`Uninstalled ${name}`);
      } catch (e) {
        toast(`Could not uninstall: ${e.message}`, true);
      }
      await load();
    }, { once: true });
  }

  // ---------------------------------------------------------------- my apps

  function renderMyApps(view) {
    const user = data.installed.filter((p) =>
      !isSystem(pidOf(p.package_id)) && matchesInstalled(p)
    );
    const system = data.installed.filter((p) =>
      isSystem(pidOf(p.package_id)) && matchesInstalled(p)
    );
    const section = (title, list, empty) => {
      const s = el(
        "section",
        { class: "section" },
        el(
          "div",
          { class: "section-head" },
          el("h2", { class: "section-title", text: title }),
          el("span", { class: "muted small-text", text: String(list.length) }),
        ),
      );
      s.append(
        list.length
          ? el(
            "div",
            { class: "card" },
            el("ul", {
              class: "rows",
              id: title === "Installed" ? "installed-list" : "system-list",
            }, list.map(installedRow)),
          )
          : empty,
      );
      return s;
    };
    view.append(
      section(
        "Installed",
        user,
        emptyState(
          "No apps installed yet",
          "Apps you install from Discover, or with kit start-package, show up here.",
          el("a", { class: "button primary", href: "#/", text: "Discover apps" }),
        ),
      ),
      section("System", system, el("p", { class: "muted", text: "—" })),
    );
  }

  function matchesInstalled(p) {
    if (!query) return true;
    return pidOf(p.package_id).toLowerCase().includes(query);
  }

  function installedRow(p) {
    const id = pidOf(p.package_id);
    const app = data.apps.find((a) => pidOf(a.package_id) === id);
    const name = appName(app, id);
    const latest = versionHash(app);
    const tile = data.tiles.get(id);
    const update = latest && p.our_version_hash && p.our_version_hash !== latest;
    return el(
      "li",
      { class: "row", "data-installed": id },
      avatar(name, app?.metadata?.image, "small"),
      el(
        "div",
        { class: "row-main" },
        el(
          "div",
          { class: "row-title" },
          el("a", { href: `#/app/${enc(id)}`, text: name }),
          update ? el("span", { class: "badge warn", text: "Update available" }) : null,
          isSystem(id) ? el("span", { class: "badge", text: "System" }) : null,
        ),
        el(
          "div",
          { class: "row-sub" },
          id,
          " · ",
          p.our_version_hash
            ? el("code", { text: shortHash(p.our_version_hash), title: p.our_version_hash })
            : "distro",
        ),
      ),
      el(
        "div",
        { class: "row-actions" },
        tile
          ? el("a", {
            class: "button small",
            href: homeUrl().replace(/\/$/, "") + tile.path,
            text: "Open",
          })
          : null,
        isSystem(id) ? null : el("button", {
          class: "button small subtle-danger",
          type: "button",
          onclick: () => confirmUninstall(id, name),
          text: "Uninstall",
        }),
      ),
    );
  }

  // ---------------------------------------------------------------- downloads

  function renderDownloads(view) {
    const active = [...transfers.entries()].filter(([, t]) => !t.done);
    const activeSection = el(
      "section",
      { class: "section" },
      el(
        "div",
        { class: "section-head" },
        el("h2", { class: "section-title", text: "In progress" }),
      ),
    );
    if (active.length) {
      activeSection.append(
        el(
          "div",
          { class: "card" },
          el(
            "ul",
            { class: "rows", id: "active-list" },
            active.map(([key]) => {
              const [id, hash] = key.split("/");
              return el(
                "li",
                { class: "row" },
                el(
                  "div",
                  { class: "row-main" },
                  el(
                    "div",
                    { class: "row-title" },
                    el("a", { href: `#/app/${enc(id)}`, text: id }),
                  ),
                  el(
                    "div",
                    { class: "row-sub" },
                    el("code", { text: shortHash(hash), title: hash }),
                  ),
                  progressBar(key),
                ),
              );
            }),
          ),
        ),
      );
    } else activeSection.append(el("p", { class: "muted", text: "No downloads running." }));
    view.append(activeSection);

    const ids = [...new Set([...data.files.keys(), ...data.mirroring.keys()])].filter((id) =>
      !query || id.includes(query)
    ).sort();
    const stored = el(
      "section",
      { class: "section" },
      el(
        "div",
        { class: "section-head" },
        el("h2", { class: "section-title", text: "On this node" }),
        el("span", {
          class: "muted small-text",
          text: `${ids.length} package${ids.length === 1 ? "" : "s"}`,
        }),
      ),
    );
    if (ids.length === 0) {
      stored.append(
        emptyState(
          "Nothing downloaded",
          "Packages you download, and ones added with kit start-package, are kept here so you can install, mirror or remove them.",
        ),
      );
    } else {
      for (const id of ids) stored.append(withTitle(localCopies(id, data.files.get(id) ?? []), id));
    }
    view.append(stored);
  }

  function withTitle(card, id) {
    const h = card.querySelector("h3");
    h.replaceChildren(
      el("a", {
        class: "card-link",
        href: `#/app/${enc(id)}`,
        text: appName(data.apps.find((a) => pidOf(a.package_id) === id), id),
      }),
      el("span", { class: "muted small-text", text: ` ${id}` }),
    );
    card.dataset.package = id;
    return card;
  }

  // -------------------------------------------------------------------------

  $("search").addEventListener("input", (e) => {
    query = e.target.value.trim().toLowerCase();
    render();
  });
  addEventListener("hashchange", () => {
    render();
    scrollTo({ top: 0 });
  });
  $("home-link").href = homeUrl();
  $("node-name").textContent = window.our?.node ?? "your node";
  render();
  load();
  connect();
  setInterval(
    () =>
      document.visibilityState === "visible" && !document.querySelector("dialog[open]") && load(),
    30_000,
  );
})();
