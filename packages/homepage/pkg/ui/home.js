// deno-lint-ignore-file no-window no-window-prefix -- browser code: window is the page
// The home screen: the apps homepage:homepage:sys lists at /apps, as tiles
// (favourites also in a dock), and their widgets in sandboxed iframes.
// Favourites POST to /favorite, a new order to /order; both persist on the node.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const els = {
    node: $("node-name"),
    greeting: $("greeting"),
    filter: $("filter"),
    live: $("live"),
    error: $("error"),
    errorText: $("error-text"),
    retry: $("retry"),
    favSection: $("favorites-section"),
    favorites: $("favorites"),
    apps: $("apps"),
    tools: $("tools"),
    edit: $("edit"),
    empty: $("empty"),
    noMatch: $("no-match"),
    noMatchQuery: $("no-match-query"),
    widgetSection: $("widgets-section"),
    widgets: $("widgets"),
  };

  /** What Hyperdrive's homepage gives a widget's iframe. */
  const WIDGET_SANDBOX = "allow-scripts allow-same-origin allow-forms allow-popups allow-modals";

  /** @type {{id: string, process: string, package_name: string, publisher: string,
   *   path: string|null, label: string, base64_icon: string|null, widget: string|null,
   *   order: number, favorite: boolean}[]} */
  let apps = [];
  let loaded = false;
  /** edit mode: every tile shows its favourite toggle, taps do not open apps, touch drags at once */
  let editing = false;

  // -------------------------------------------------------------------------
  // header

  const node = window.our && window.our.node;
  if (node) {
    els.node.textContent = node;
    document.title = `${node} - home`;
  }
  function greet() {
    const now = new Date();
    const h = now.getHours();
    const part = h < 5
      ? "Good night"
      : h < 12
      ? "Good morning"
      : h < 18
      ? "Good afternoon"
      : "Good evening";
    const date = now.toLocaleDateString(undefined, {
      weekday: "long",
      month: "long",
      day: "numeric",
    });
    els.greeting.textContent = `${part} · ${date}`;
  }
  greet();
  setInterval(greet, 60_000);

  function announce(text) {
    els.live.textContent = "";
    // a fresh node so screen readers read a repeated message again
    requestAnimationFrame(() => (els.live.textContent = text));
  }

  // -------------------------------------------------------------------------
  // data

  async function api(path, body) {
    const res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      credentials: "include",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      // the login expired: log in again and come back
      location.assign(`/login?redirect=${encodeURIComponent(location.pathname)}`);
      throw new Error("not logged in");
    }
    if (!res.ok) {
      throw new Error(`${path}: ${res.status} ${await res.text().catch(() => "")}`.trim());
    }
    return res;
  }

  function byOrder(a, b) {
    return a.order - b.order || a.label.localeCompare(b.label) || a.id.localeCompare(b.id);
  }

  async function load() {
    try {
      const list = await (await api("/apps")).json();
      apps = list.slice().sort(byOrder);
      loaded = true;
      els.error.hidden = true;
      render();
      document.body.dataset.state = "ready";
    } catch (e) {
      showError("Could not load your apps.", e);
      if (!loaded) document.body.dataset.state = "error";
    } finally {
      els.apps.setAttribute("aria-busy", "false");
    }
  }

  function showError(text, e) {
    console.error(e);
    els.errorText.textContent = text;
    els.error.hidden = false;
  }
  els.retry.addEventListener("click", () => {
    els.error.hidden = true;
    load();
  });

  async function setFavorite(id, favorite, list) {
    const app = apps.find((a) => a.id === id);
    if (!app) return;
    app.favorite = favorite;
    render({ focus: { id, part: "fav", list } });
    announce(`${app.label} ${favorite ? "added to" : "removed from"} favourites`);
    try {
      await api("/favorite", [id, favorite]);
    } catch (e) {
      app.favorite = !favorite;
      render();
      showError(`Could not save ${app.label} as a favourite.`, e);
    }
  }

  async function saveOrder() {
    apps.forEach((a, i) => (a.order = i));
    try {
      await api("/order", apps.map((a) => [a.id, a.order]));
    } catch (e) {
      showError("Could not save the new order.", e);
    }
  }

  // -------------------------------------------------------------------------
  // rendering

  /** An icon we can show: image data or a same-site/https URL, never script. */
  function iconSrc(icon) {
    if (typeof icon !== "string" || icon.length === 0) return null;
    const s = icon.trim();
    if (/^data:image\/[a-z0-9.+-]+[;,]/i.test(s)) return s;
    if (s.startsWith("/") && !s.startsWith("//")) return s;
    if (/^https:\/\//i.test(s)) return s;
    // bare base64, as process_lib's doc describes: an SVG
    if (/^[A-Za-z0-9+/=\s]+$/.test(s)) return `data:image/svg+xml;base64,${s.replace(/\s/g, "")}`;
    return null;
  }

  function hue(id) {
    let h = 0;
    for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
    return h % 360;
  }

  function monogram(label) {
    const letters = [...(label || "?").trim()];
    return (letters[0] || "?").toUpperCase() + (letters[1] || "").toLowerCase();
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function iconEl(app) {
    const wrap = el("span", "icon");
    const src = iconSrc(app.base64_icon);
    if (src) {
      const img = el("img");
      img.src = src;
      img.alt = "";
      img.decoding = "async";
      img.draggable = false;
      img.addEventListener("error", () => {
        img.remove();
        fillMonogram(wrap, app);
      });
      wrap.append(img);
    } else {
      fillMonogram(wrap, app);
    }
    return wrap;
  }

  function fillMonogram(wrap, app) {
    wrap.classList.add("monogram");
    wrap.style.setProperty("--h", String(hue(app.id)));
    wrap.append(el("span", "", monogram(app.label)));
  }

  const STAR =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3.6l2.5 5.2 5.7.8-4.1 4 1 5.7L12 16.6l-5.1 2.7 1-5.7-4.1-4 5.7-.8z"/></svg>';

  /** One tile: a link (or a plain card for apps without a page) and its favourite toggle. */
  function tileEl(app, list) {
    const li = el("li", "tile");
    li.dataset.id = app.id;
    let main;
    if (app.path) {
      main = el("a", "tile-main");
      main.href = app.path;
    } else {
      // nothing to open: a widget-only app; Enter shows its widget
      main = el("div", "tile-main no-page");
      main.tabIndex = 0;
      main.setAttribute("role", "button");
      main.addEventListener("click", () => showWidget(app.id));
      main.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          showWidget(app.id);
        }
      });
    }
    main.dataset.part = "main";
    main.title = app.path ? `Open ${app.label}` : app.label;
    main.append(iconEl(app), el("span", "label", app.label));
    const fav = el("button", "fav");
    fav.type = "button";
    fav.dataset.part = "fav";
    fav.innerHTML = STAR;
    fav.setAttribute("aria-pressed", String(app.favorite));
    fav.setAttribute(
      "aria-label",
      app.favorite ? `Remove ${app.label} from favourites` : `Add ${app.label} to favourites`,
    );
    fav.title = app.favorite ? "Remove from favourites" : "Add to favourites";
    fav.addEventListener("click", (e) => {
      e.preventDefault();
      setFavorite(app.id, !app.favorite, list);
    });
    if (app.favorite) li.classList.add("is-favorite");
    li.append(main, fav);
    if (list === "apps") {
      main.addEventListener("keydown", (e) => onTileKey(e, app.id));
    }
    return li;
  }

  function widgetEl(app) {
    const card = el("article", "widget");
    card.id = `widget-${app.id}`;
    card.dataset.id = app.id;
    const head = el("header", "widget-head");
    const title = el("h3", "widget-title");
    const icon = iconEl(app);
    icon.classList.add("small");
    title.append(icon, el("span", "", app.label));
    head.append(title);
    if (app.path) {
      const open = el("a", "widget-open", "Open");
      open.href = app.path;
      open.setAttribute("aria-label", `Open ${app.label}`);
      head.append(open);
    }
    const frame = el("iframe", "widget-frame");
    frame.title = `${app.label} widget`;
    frame.setAttribute("sandbox", WIDGET_SANDBOX);
    frame.loading = "lazy";
    frame.referrerPolicy = "same-origin";
    if (app.widget.includes("<")) {
      frame.srcdoc = app.widget;
    } else if (app.path) {
      // a widget that is not HTML: show the app's own page, as Hyperdrive does
      frame.src = app.path;
    }
    card.append(head, frame);
    return card;
  }

  function currentFilter() {
    return els.filter.value.trim().toLowerCase();
  }

  /**
   * Draws everything from `apps`. `focus` puts focus back on a tile's part
   * after the redraw (keyboard moves, favourite toggles).
   */
  function render(opts = {}) {
    if (!loaded) return;
    const q = currentFilter();
    const shown = q
      ? apps.filter((a) => a.label.toLowerCase().includes(q) || a.id.includes(q))
      : apps;

    els.apps.replaceChildren(...shown.map((a) => tileEl(a, "apps")));
    const favs = apps.filter((a) => a.favorite);
    els.favorites.replaceChildren(...favs.map((a) => tileEl(a, "favorites")));
    els.favSection.hidden = favs.length === 0 || !!q;

    els.empty.hidden = apps.length > 0;
    els.apps.hidden = apps.length === 0;
    els.noMatch.hidden = !(apps.length > 0 && shown.length === 0);
    els.noMatchQuery.textContent = els.filter.value.trim();
    els.tools.hidden = apps.length === 0 || !!q;
    if (apps.length === 0 && editing) setEditing(false);
    els.apps.classList.toggle("sortable", apps.length > 1 && !q);

    renderWidgets(new Set(shown.map((a) => a.id)));

    if (opts.focus) {
      // back where it was; a tile that left the dock is found in the grid
      const find = (root) => [...root.children].find((c) => c.dataset.id === opts.focus.id);
      const li = (opts.focus.list === "favorites" && find(els.favorites)) || find(els.apps);
      li?.querySelector(`[data-part="${opts.focus.part}"]`)?.focus();
    }
  }

  /** Widgets keep their iframes across redraws (a reload would restart them). */
  function renderWidgets(shownIds) {
    const withWidget = apps.filter((a) => typeof a.widget === "string" && a.widget.length > 0);
    const existing = new Map([...els.widgets.children].map((c) => [c.dataset.id, c]));
    const cards = withWidget.map((a) => {
      const old = existing.get(a.id);
      const key = JSON.stringify([a.label, a.widget, a.path, a.base64_icon]);
      if (old && old.dataset.key === key) return old;
      const card = widgetEl(a);
      card.dataset.key = key;
      return card;
    });
    // move only what changed place, so the other iframes are not reloaded
    cards.forEach((card, i) => {
      if (els.widgets.children[i] !== card) {
        els.widgets.insertBefore(card, els.widgets.children[i] ?? null);
      }
    });
    while (els.widgets.children.length > cards.length) els.widgets.lastElementChild.remove();
    // a search narrows the widgets too (hidden, not removed: they keep running)
    for (const card of cards) card.hidden = !shownIds.has(card.dataset.id);
    els.widgetSection.hidden = !cards.some((c) => !c.hidden);
  }

  function showWidget(id) {
    const card = document.getElementById(`widget-${id}`);
    if (!card) return;
    card.scrollIntoView({
      behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth",
      block: "center",
    });
    card.classList.remove("flash");
    void card.offsetWidth;
    card.classList.add("flash");
  }

  // -------------------------------------------------------------------------
  // reordering: keyboard

  function move(id, to) {
    const from = apps.findIndex((a) => a.id === id);
    if (from < 0) return;
    to = Math.max(0, Math.min(apps.length - 1, to));
    if (to === from) return;
    const [app] = apps.splice(from, 1);
    apps.splice(to, 0, app);
    render({ focus: { id, part: "main", list: "apps" } });
    announce(`${app.label} moved to position ${to + 1} of ${apps.length}`);
    saveOrder();
  }

  function columns() {
    const tiles = [...els.apps.children];
    if (tiles.length < 2) return 1;
    const top = tiles[0].offsetTop;
    const n = tiles.findIndex((t) => t.offsetTop !== top);
    return n < 0 ? tiles.length : n;
  }

  function onTileKey(e, id) {
    const i = apps.findIndex((a) => a.id === id);
    if (e.altKey && !currentFilter()) {
      const step =
        { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() }[e.key];
      if (step !== undefined) {
        e.preventDefault();
        move(id, i + step);
        return;
      }
      if (e.key === "Home" || e.key === "End") {
        e.preventDefault();
        move(id, e.key === "Home" ? 0 : apps.length - 1);
        return;
      }
    }
    // arrows without Alt walk the grid
    if (!e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      const tiles = [...els.apps.children];
      const at = tiles.findIndex((t) => t.dataset.id === id);
      const step =
        { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() }[e.key];
      if (step === undefined) return;
      const next = tiles[at + step];
      if (next) {
        e.preventDefault();
        next.querySelector('[data-part="main"]').focus();
      }
    }
  }

  // -------------------------------------------------------------------------
  // reordering: pointer (mouse and pen drag; touch after a long press)

  let drag = null;

  els.apps.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || currentFilter() || apps.length < 2) return;
    const li = e.target.closest(".tile");
    if (!li || e.target.closest(".fav")) return;
    drag = {
      li,
      id: li.dataset.id,
      pointerId: e.pointerId,
      x: e.clientX,
      y: e.clientY,
      active: false,
      touch: e.pointerType === "touch",
      timer: 0,
    };
    if (drag.touch && !editing) {
      drag.timer = setTimeout(() => drag && startDrag(drag.x, drag.y), 380);
    }
  });

  function startDrag(x, y) {
    const d = drag;
    d.active = true;
    const r = d.li.getBoundingClientRect();
    d.dx = x - r.left;
    d.dy = y - r.top;
    const ghost = d.li.cloneNode(true);
    ghost.classList.add("ghost");
    ghost.style.width = `${r.width}px`;
    ghost.style.height = `${r.height}px`;
    ghost.setAttribute("aria-hidden", "true");
    document.body.append(ghost);
    d.ghost = ghost;
    d.li.classList.add("placeholder");
    document.body.classList.add("dragging");
    try {
      els.apps.setPointerCapture(d.pointerId);
    } catch { /* the pointer is gone */ }
    if (navigator.vibrate && d.touch) navigator.vibrate(10);
    positionGhost(x, y);
  }

  function positionGhost(x, y) {
    drag.ghost.style.transform = `translate(${x - drag.dx}px, ${y - drag.dy}px) scale(1.06)`;
  }

  els.apps.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.pointerId) return;
    if (!drag.active) {
      const far = Math.hypot(e.clientX - drag.x, e.clientY - drag.y) > 6;
      if (drag.touch && !editing) {
        // moving before the long press ends is a scroll, not a drag
        if (far) cancelDrag();
        return;
      }
      if (!far) return;
      startDrag(e.clientX, e.clientY);
    }
    e.preventDefault();
    positionGhost(e.clientX, e.clientY);
    const over = document.elementsFromPoint(e.clientX, e.clientY)
      .find((n) => n.classList?.contains("tile") && n.parentElement === els.apps);
    if (over && over !== drag.li) {
      const tiles = [...els.apps.children];
      const before = tiles.indexOf(over) < tiles.indexOf(drag.li);
      els.apps.insertBefore(drag.li, before ? over : over.nextSibling);
    }
  });

  // a touch that became a drag must not scroll the page
  els.apps.addEventListener("touchmove", (e) => {
    if (drag?.active) e.preventDefault();
  }, { passive: false });

  function finishDrag() {
    const d = drag;
    drag = null;
    clearTimeout(d.timer);
    if (!d.active) return;
    d.ghost.remove();
    d.li.classList.remove("placeholder");
    document.body.classList.remove("dragging");
    // the click that ends a drag must not open the app
    const swallow = (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
    };
    window.addEventListener("click", swallow, { capture: true, once: true });
    setTimeout(() => window.removeEventListener("click", swallow, { capture: true }), 0);
    const ids = [...els.apps.children].map((c) => c.dataset.id);
    const before = apps.map((a) => a.id).join("\n");
    apps.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
    if (apps.map((a) => a.id).join("\n") === before) return;
    const app = apps.find((a) => a.id === d.id);
    render();
    announce(`${app.label} moved to position ${apps.indexOf(app) + 1} of ${apps.length}`);
    saveOrder();
  }

  function cancelDrag() {
    if (!drag) return;
    clearTimeout(drag.timer);
    if (drag.active) {
      drag.ghost.remove();
      drag.li.classList.remove("placeholder");
      document.body.classList.remove("dragging");
      drag = null;
      render();
      return;
    }
    drag = null;
  }

  els.apps.addEventListener(
    "pointerup",
    (e) => drag && e.pointerId === drag.pointerId && finishDrag(),
  );
  els.apps.addEventListener("pointercancel", cancelDrag);
  els.apps.addEventListener("contextmenu", (e) => drag?.touch && e.preventDefault());
  document.addEventListener("keydown", (e) => e.key === "Escape" && drag?.active && cancelDrag());
  // native image/link dragging would fight ours
  els.apps.addEventListener("dragstart", (e) => e.preventDefault());

  // -------------------------------------------------------------------------
  // edit mode

  function setEditing(on) {
    editing = on;
    els.apps.classList.toggle("editing", on);
    els.edit.setAttribute("aria-pressed", String(on));
    els.edit.textContent = on ? "Done" : "Edit";
  }
  els.edit.addEventListener("click", () => {
    setEditing(!editing);
    announce(editing ? "Editing: choose favourites and drag apps to move them" : "Done editing");
  });
  // while editing, a tap on an app does not open it
  els.apps.addEventListener("click", (e) => {
    if (editing && e.target.closest(".tile-main")) e.preventDefault();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && editing && !drag?.active) setEditing(false);
  });

  // -------------------------------------------------------------------------
  // search

  els.filter.addEventListener("input", () => render());
  els.filter.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      els.filter.value = "";
      render();
    } else if (e.key === "Enter") {
      const first = els.apps.querySelector('[data-part="main"]');
      if (first) {
        e.preventDefault();
        first.click();
      }
    } else if (e.key === "ArrowDown") {
      const first = els.apps.querySelector('[data-part="main"]');
      if (first) {
        e.preventDefault();
        first.focus();
      }
    }
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target instanceof HTMLInputElement ||
      e.target instanceof HTMLTextAreaElement ||
      e.target.isContentEditable;
    if (e.key === "/" && !typing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      els.filter.focus();
    }
  });

  // -------------------------------------------------------------------------
  // widgets may ask us to open an app (hw:// links, as Hyperdrive's widgets do)

  window.addEventListener("message", (e) => {
    const fromWidget = [...els.widgets.querySelectorAll("iframe")].some((f) =>
      f.contentWindow === e.source
    );
    const url = e.data && e.data.type === "HW_LINK_CLICKED" && e.data.url;
    if (!fromWidget || typeof url !== "string") return;
    if (url.startsWith("/") && !url.startsWith("//")) location.assign(url);
  });

  // apps add themselves as they start: look again when the page comes back
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !drag) load();
  });

  load();
})();
