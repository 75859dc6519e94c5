// The look of the pages met before the homepage (the boot page, the login page): the
// homepage's colours and mark, inline, since nothing of the node is served yet. Light
// and dark follow the system, as the homepage.

/**
 * The homepage's mark (packages/homepage/pkg/ui/icon.svg): its gradient is the element's
 * background (an SVG gradient is not drawn when its first copy sits in a hidden form).
 */
export const BRAND_MARK = `<svg class="mark" viewBox="0 0 512 512" aria-hidden="true">
<rect x="118" y="118" width="120" height="120" rx="34" fill="#fff"/>
<circle cx="334" cy="178" r="60" fill="#fff" fill-opacity=".55"/>
<rect x="118" y="274" width="120" height="120" rx="34" fill="#fff" fill-opacity=".55"/>
<rect x="274" y="274" width="120" height="120" rx="34" fill="#fff"/></svg>`;

/**
 * A centred card (`.card`, or a form that is the body's child) holding the mark, a title,
 * a muted line (`.sub`) and the fields.
 */
export const AUTH_PAGE_CSS = `
  :root {
    color-scheme: light dark;
    --bg: #f4f5f7; --surface: #ffffff; --text: #16181d; --muted: #5d6470;
    --line: rgba(20, 24, 31, .14); --accent: #4353ff; --on-accent: #ffffff; --danger: #d93036;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  }
  @media (prefers-color-scheme: dark) {
    :root {
      --bg: #0d0f13; --surface: #171a20; --text: #eceef2; --muted: #9aa1ad;
      --line: rgba(255, 255, 255, .12); --accent: #7c8aff; --on-accent: #0d0f13; --danger: #ff6369;
    }
  }
  * { box-sizing: border-box; }
  body {
    margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 24px;
    color: var(--text); font-size: 15px; line-height: 1.45; -webkit-font-smoothing: antialiased;
    background: radial-gradient(900px 380px at 20% -120px,
      color-mix(in srgb, var(--accent) 16%, transparent), transparent 70%), var(--bg);
  }
  .card, body > form {
    width: min(24rem, 100%); display: flex; flex-direction: column; gap: 14px; padding: 28px;
    background: var(--surface); border: 1px solid var(--line); border-radius: 20px;
    box-shadow: 0 1px 2px rgba(16, 20, 28, .06), 0 14px 36px rgba(16, 20, 28, .12);
  }
  .mark {
    width: 44px; height: 44px; border-radius: 10px;
    background: linear-gradient(135deg, #5a6bff, #3a2fd6);
  }
  h1 { font-size: 1.3rem; margin: 0; overflow-wrap: anywhere; }
  .sub { color: var(--muted); font-size: .9rem; margin: -8px 0 4px; }
  input, button { font: inherit; width: 100%; padding: .7rem .85rem; border-radius: 12px; }
  input { border: 1px solid var(--line); background: var(--surface); color: var(--text); }
  input:focus {
    outline: 3px solid color-mix(in srgb, var(--accent) 30%, transparent); border-color: var(--accent);
  }
  input[type=file] { padding: .5rem; }
  button {
    border: 0; background: var(--accent); color: var(--on-accent); font-weight: 600;
    cursor: pointer;
  }
  button:disabled { opacity: .5; cursor: default; }
  a { color: var(--accent); font-size: .9rem; text-decoration: none; }
  a:hover { text-decoration: underline; }
  label { display: flex; flex-direction: column; gap: .3rem; font-size: .9rem; font-weight: 600; }
  small { color: var(--muted); font-size: .8rem; }
  .err { color: var(--danger); min-height: 1.2em; white-space: pre-wrap; overflow-wrap: anywhere; }
`;
