// The TOML kit's tests.toml uses: key = value (strings, integers, floats, booleans, arrays,
// inline tables), [tables], [[arrays of tables]] (dotted: [[tests.nodes]] goes into the last
// [[tests]]), dotted keys, comments. Not the whole of TOML: dates and multi-line strings are
// refused with the line they are on.

type Table = Record<string, unknown>;

export class TomlError extends Error {}

export function parseToml(text: string): Table {
  const root: Table = {};
  let current: Table = root;
  const src = text.replace(/\r\n/g, "\n");
  let i = 0;
  let line = 1;
  const fail = (m: string): never => {
    throw new TomlError(`tests.toml line ${line}: ${m}`);
  };
  const peek = () => src[i];
  const skipWs = () => {
    while (src[i] === " " || src[i] === "\t") i++;
  };
  // whitespace, newlines and comments (inside arrays)
  const skipAll = () => {
    for (;;) {
      skipWs();
      if (src[i] === "#") { while (i < src.length && src[i] !== "\n") i++; }
      else if (src[i] === "\n") {
        i++;
        line++;
      } else return;
    }
  };
  const endOfLine = () => {
    skipWs();
    if (src[i] === "#") { while (i < src.length && src[i] !== "\n") i++; }
    if (i < src.length && src[i] !== "\n") fail(`unexpected ${JSON.stringify(src[i])}`);
  };
  const bareKey = () => {
    const m = /^[A-Za-z0-9_-]+/.exec(src.slice(i));
    if (!m) fail("expected a key");
    i += m![0].length;
    return m![0];
  };
  const key = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipWs();
      parts.push(peek() === '"' || peek() === "'" ? str() : bareKey());
      skipWs();
      if (peek() !== ".") return parts;
      i++;
    }
  };
  const str = (): string => {
    const q = src[i++];
    if (src.startsWith(q.repeat(2), i)) {
      if (src[i + 2] === q) fail("multi-line strings are not supported");
      i += 2;
      return "";
    }
    let out = "";
    for (;;) {
      const c = src[i++];
      if (c === undefined || c === "\n") fail("unterminated string");
      if (c === q) return out;
      if (c === "\\" && q === '"') {
        const e = src[i++];
        const simple: Record<string, string> = {
          b: "\b",
          t: "\t",
          n: "\n",
          f: "\f",
          r: "\r",
          '"': '"',
          "\\": "\\",
        };
        if (e in simple) out += simple[e];
        else if (e === "u" || e === "U") {
          const n = e === "u" ? 4 : 8;
          const hex = src.slice(i, i + n);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail("bad unicode escape");
          out += String.fromCodePoint(parseInt(hex, 16));
          i += n;
        } else fail(`bad escape \\${e}`);
      } else out += c;
    }
  };
  const value = (): unknown => {
    skipWs();
    const c = peek();
    if (c === '"' || c === "'") return str();
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      for (;;) {
        skipAll();
        if (peek() === "]") {
          i++;
          return arr;
        }
        arr.push(value());
        skipAll();
        if (peek() === ",") i++;
        else if (peek() !== "]") fail("expected , or ] in an array");
      }
    }
    if (c === "{") {
      i++;
      const t: Table = {};
      skipWs();
      if (peek() === "}") {
        i++;
        return t;
      }
      for (;;) {
        const k = key();
        skipWs();
        if (src[i++] !== "=") fail("expected = in an inline table");
        assign(t, k, value());
        skipWs();
        const d = src[i++];
        if (d === "}") return t;
        if (d !== ",") fail("expected , or } in an inline table");
      }
    }
    const m = /^[^\s,\]}#]+/.exec(src.slice(i));
    if (!m) fail("expected a value");
    const word = m![0];
    i += word.length;
    if (word === "true") return true;
    if (word === "false") return false;
    if (/^[+-]?\d[\d_]*$/.test(word)) return Number(word.replaceAll("_", ""));
    if (/^0x[0-9a-fA-F_]+$/.test(word)) return parseInt(word.slice(2).replaceAll("_", ""), 16);
    if (/^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?$/.test(word)) {
      return Number(word.replaceAll("_", ""));
    }
    return fail(`unsupported value ${word}`);
  };
  const assign = (t: Table, k: string[], v: unknown) => {
    let at = t;
    for (const part of k.slice(0, -1)) {
      if (at[part] === undefined) at[part] = {};
      if (typeof at[part] !== "object" || Array.isArray(at[part])) {
        fail(`${k.join(".")} is not a table`);
      }
      at = at[part] as Table;
    }
    const last = k[k.length - 1];
    if (last in at) fail(`duplicate key ${k.join(".")}`);
    at[last] = v;
  };
  /** The table a [header] path names; the last element of arrays of tables on the way. */
  const walk = (path: string[]): Table => {
    let at = root;
    for (const part of path) {
      let next = at[part];
      if (next === undefined) next = at[part] = {};
      if (Array.isArray(next)) next = next[next.length - 1];
      if (typeof next !== "object" || next === null) fail(`${path.join(".")} is not a table`);
      at = next as Table;
    }
    return at;
  };

  while (i < src.length) {
    skipAll();
    if (i >= src.length) break;
    if (peek() === "[") {
      const array = src[i + 1] === "[";
      i += array ? 2 : 1;
      const path = key();
      skipWs();
      if (src.slice(i, i + (array ? 2 : 1)) !== (array ? "]]" : "]")) fail("expected ]");
      i += array ? 2 : 1;
      endOfLine();
      const parent = walk(path.slice(0, -1));
      const last = path[path.length - 1];
      if (array) {
        if (parent[last] === undefined) parent[last] = [];
        if (!Array.isArray(parent[last])) fail(`${path.join(".")} is not an array of tables`);
        const t: Table = {};
        (parent[last] as unknown[]).push(t);
        current = t;
      } else {
        if (parent[last] === undefined) parent[last] = {};
        current = parent[last] as Table;
      }
      continue;
    }
    const k = key();
    skipWs();
    if (src[i++] !== "=") fail("expected =");
    assign(current, k, value());
    endOfLine();
  }
  return root;
}
