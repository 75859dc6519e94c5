// Path patterns with route-recognizer 0.3's semantics, which Hyperdrive's
// http-server uses for bindings:
// - a pattern splits into segments at '/' and '.'; a segment is static text,
//   `:name` (one or more chars other than '/') or `*name` (one or more of any);
// - the best match has the most static segments, then the most dynamic ones,
//   then the most wildcards;
// - patterns equal up to parameter names are the same route (the later add wins);
// - one leading '/' of both pattern and path is ignored.
// A parameter takes as much as it can while the rest still matches (the greedy
// captures a backtracking regex gives), the first parameter first.
//
// No regex is built from a pattern: a route is a list of tokens, matched against
// the path's tokens with a table (linear in path tokens x route tokens), so no
// binding can fail to compile, backtrack exponentially or disturb another route.
// - Both pattern and path are cut into pieces at every '/' and '.'. A static
//   segment's text has neither, so it is exactly one piece; a parameter starts
//   right after a separator and ends right before one (or at an end), so it is
//   one or more whole pieces (a `:name` ones joined by '.' only).
// - Without wildcards, the '/'s of route and path pair up, so each '/'-part matches
//   on its own: static text by comparison, a lone `:name` by being non-empty, and
//   only a part mixing `:name`s with '.'-separated text needs the table.
// - Routes whose first '/'-part is static text (every process's, which starts with
//   its ProcessId) are looked at only for paths with that first part.
// - Candidates are tried best first (the order of the rules above, then the order
//   they were added), so the first match is the answer.

interface Token {
  /** The separator before this piece: "" for the first, else "/" or ".". */
  sep: string;
  kind: Kind;
  /** Static text (kind STATIC). */
  text: string;
}

type Kind = 0 | 1 | 2;
const STATIC: Kind = 0;
const DYNAMIC: Kind = 1;
const WILDCARD: Kind = 2;

/** A '/'-part of a route without wildcards. */
type Part =
  | { kind: "static"; text: string }
  | { kind: "param" }
  | { kind: "mixed"; tokens: Token[] };

interface Route<T> {
  tokens: Token[];
  /**
   * Its '/'-parts, when it has no wildcard (then they pair up with the path's), or
   * when its one wildcard is a last '/'-part of its own (`/files/*rest`): then the
   * parts before it pair up with the path's first ones and it takes the rest.
   */
  parts?: Part[];
  tail: boolean;
  statics: number;
  dynamics: number;
  wildcards: number;
  /** "/" separators among the tokens: a route without wildcards needs exactly as many. */
  slashes: number;
  /** One per parameter token, in order ("" is not reported). */
  names: string[];
  value: T;
  /** Insertion order: the tie-break between equally good routes. */
  seq: number;
}

export interface RouteMatch<T> {
  value: T;
  params: Record<string, string>;
}

/**
 * Matching one path against the candidates costs at most this many table cells
 * (path pieces x route tokens, summed over the routes tried). Bound paths are
 * short (maxBoundPathLength), so only a very long request path gets near it.
 */
export const ROUTE_MATCH_BUDGET = 4_000_000;

/** A path too long to match against the routes it could reach (the server answers 414). */
export class RouteTooExpensive extends Error {}

/** route-recognizer's segments: (separator, text) at each '/' or '.'. */
function segments(route: string): { sep: string; text: string }[] {
  const out: { sep: string; text: string }[] = [];
  let start = 0;
  while (start < route.length) {
    let end = route.length;
    for (let i = start + 1; i < route.length; i++) {
      const c = route.charCodeAt(i);
      if (c === 47 || c === 46) {
        end = i;
        break;
      }
    }
    const first = route[start];
    if (first === "/" || first === ".") out.push({ sep: first, text: route.slice(start + 1, end) });
    else out.push({ sep: "", text: route.slice(start, end) });
    start = end;
  }
  return out;
}

/** The path's pieces: text between separators, with the separator before each. */
interface PathPieces {
  path: string;
  seps: string[];
  texts: string[];
  /** Offset of each piece's text in `path`. */
  starts: number[];
  slashes: number;
  /** For each piece, the index of the last piece of its '/'-part. */
  partLast: Int32Array;
}

function pieces(path: string): PathPieces {
  const seps: string[] = [""];
  const texts: string[] = [];
  const starts: number[] = [0];
  let slashes = 0;
  let from = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 47 && c !== 46) continue;
    texts.push(path.slice(from, i));
    seps.push(c === 47 ? "/" : ".");
    if (c === 47) slashes++;
    from = i + 1;
    starts.push(from);
  }
  texts.push(path.slice(from));
  const partLast = new Int32Array(texts.length);
  let last = texts.length - 1;
  for (let j = texts.length - 1; j >= 0; j--) {
    partLast[j] = last;
    if (seps[j] === "/") last = j - 1;
  }
  return { path, seps, texts, starts, slashes, partLast };
}

/** Precedence: more statics, then dynamics, then wildcards, then added earlier. */
function before<T>(a: Route<T>, b: Route<T>): boolean {
  if (a.statics !== b.statics) return a.statics > b.statics;
  if (a.dynamics !== b.dynamics) return a.dynamics > b.dynamics;
  if (a.wildcards !== b.wildcards) return a.wildcards > b.wildcards;
  return a.seq < b.seq;
}

/** Inserts keeping `list` in precedence order. */
function insertRoute<T>(list: Route<T>[], route: Route<T>): void {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(list[mid], route)) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, route);
}

export class PathRouter<T> {
  /** Every route by its shape (patterns equal up to parameter names share one). */
  #routes = new Map<string, Route<T>>();
  /**
   * All-static routes by their text. A path an all-static route matches has
   * exactly that route's segments, and any other route matching it has
   * fewer static segments, so an exact hit here is always the best match.
   */
  #exact = new Map<string, Route<T>>();
  /** Routes with parameters whose first '/'-part is static, by that part, best first. */
  #byFirstPart = new Map<string, Route<T>[]>();
  /** Routes with a parameter in their first '/'-part, best first. */
  #open: Route<T>[] = [];
  #seq = 0;

  add(pattern: string, value: T): void {
    const route = pattern.startsWith("/") ? pattern.slice(1) : pattern;
    const segs = segments(route);
    const tokens: Token[] = [];
    // a pattern starting with a separator still has an empty first piece to match
    if (segs.length === 0 || segs[0].sep !== "") tokens.push({ sep: "", kind: STATIC, text: "" });
    let key = "";
    let statics = 0, dynamics = 0, wildcards = 0, slashes = 0;
    let firstPartStatic = true;
    const names: string[] = [];
    for (const { sep, text } of segs) {
      key += sep;
      if (sep === "/") slashes++;
      const inFirstPart = slashes === 0;
      if (text.startsWith(":")) {
        tokens.push({ sep, kind: DYNAMIC, text: "" });
        key += ":";
        dynamics++;
        names.push(text.slice(1));
        if (inFirstPart) firstPartStatic = false;
      } else if (text.startsWith("*")) {
        tokens.push({ sep, kind: WILDCARD, text: "" });
        key += "*";
        wildcards++;
        names.push(text.slice(1));
        if (inFirstPart) firstPartStatic = false;
      } else {
        tokens.push({ sep, kind: STATIC, text });
        key += text.replace(/[\\:*]/g, "\\$&");
        statics++;
      }
    }
    const existing = this.#routes.get(key);
    if (existing) {
      // the same route: the later add wins, in the earlier one's place
      existing.value = value;
      existing.names = names;
      return;
    }
    const last = tokens[tokens.length - 1];
    const tail = wildcards === 1 && last.kind === WILDCARD &&
      (last.sep === "/" || tokens.length === 1);
    const entry: Route<T> = {
      tokens,
      parts: wildcards === 0 ? partsOf(tokens) : tail ? partsOf(tokens.slice(0, -1)) : undefined,
      tail,
      statics,
      dynamics,
      wildcards,
      slashes,
      names,
      value,
      seq: this.#seq++,
    };
    this.#routes.set(key, entry);
    if (dynamics === 0 && wildcards === 0) {
      this.#exact.set(route, entry);
    } else if (firstPartStatic) {
      const slash = route.indexOf("/");
      const firstPart = slash < 0 ? route : route.slice(0, slash);
      let list = this.#byFirstPart.get(firstPart);
      if (!list) this.#byFirstPart.set(firstPart, list = []);
      insertRoute(list, entry);
    } else {
      insertRoute(this.#open, entry);
    }
  }

  /**
   * The best route for `path`, or undefined. Throws RouteTooExpensive when the
   * path is too long to try against the routes it could reach (ROUTE_MATCH_BUDGET).
   */
  recognize(path: string): RouteMatch<T> | undefined {
    const p = path.startsWith("/") ? path.slice(1) : path;
    const exact = this.#exact.get(p);
    if (exact) return { value: exact.value, params: {} };
    const slash = p.indexOf("/");
    const near = this.#byFirstPart.get(slash < 0 ? p : p.slice(0, slash));
    const open = this.#open;
    if (!near && open.length === 0) return undefined;
    // where each '/'-part of the path starts (the path's end is the last "start" - 1)
    const starts = [0];
    for (let i = slash; i >= 0; i = p.indexOf("/", i + 1)) starts.push(i + 1);
    starts.push(p.length + 1);
    const slashes = starts.length - 2;
    let whole: PathPieces | undefined;
    const budget = { left: ROUTE_MATCH_BUDGET };
    // merge the two precedence-ordered lists; the first match is the best
    let i = 0, j = 0;
    const nearLen = near?.length ?? 0;
    while (i < nearLen || j < open.length) {
      let route: Route<T>;
      if (j >= open.length || (i < nearLen && before(near![i], open[j]))) route = near![i++];
      else route = open[j++];
      let captures: string[] | undefined;
      if (route.tail) {
        if (route.slashes > slashes) continue;
        const rest = starts[route.parts!.length];
        if (rest >= p.length) continue;
        captures = matchParts(route.parts!, p, starts, budget);
        captures?.push(p.slice(rest));
      } else if (route.parts) {
        if (route.slashes !== slashes) continue;
        captures = matchParts(route.parts, p, starts, budget);
      } else {
        if (route.slashes > slashes) continue;
        whole ??= pieces(p);
        captures = matchTokens(route.tokens, whole, budget);
      }
      if (!captures) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, k) => {
        if (name !== "") params[name] = captures[k];
      });
      return { value: route.value, params };
    }
    return undefined;
  }

  get size(): number {
    return this.#routes.size;
  }
}

/** A wildcard-free route's tokens as its '/'-parts. */
function partsOf(tokens: Token[]): Part[] {
  const parts: Part[] = [];
  if (tokens.length === 0) return parts;
  let current: Token[] = [];
  const close = () => {
    if (current.length === 1 && current[0].kind === DYNAMIC) parts.push({ kind: "param" });
    else if (current.every((t) => t.kind === STATIC)) {
      parts.push({ kind: "static", text: current.map((t) => t.sep + t.text).join("") });
    } else {
      parts.push({ kind: "mixed", tokens: current });
    }
  };
  for (const t of tokens) {
    if (t.sep === "/") {
      close();
      // matched on its own, the part's first token starts it (as the route's first does)
      current = [{ ...t, sep: "" }];
    } else current.push(t);
  }
  close();
  return parts;
}

/**
 * The captures of a wildcard-free route whose '/'s pair up with the path's:
 * `starts[i]` is where the path's part i starts (its end is starts[i + 1] - 1).
 */
function matchParts(
  parts: Part[],
  p: string,
  starts: number[],
  budget: { left: number },
): string[] | undefined {
  budget.left -= parts.length;
  if (budget.left < 0) throw new RouteTooExpensive();
  const captures: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const from = starts[i];
    const to = starts[i + 1] - 1;
    if (part.kind === "static") {
      if (to - from !== part.text.length || !p.startsWith(part.text, from)) return undefined;
    } else if (part.kind === "param") {
      if (to === from) return undefined;
      captures.push(p.slice(from, to));
    } else {
      const got = matchTokens(part.tokens, pieces(p.slice(from, to)), budget);
      if (!got) return undefined;
      captures.push(...got);
    }
  }
  return captures;
}

/**
 * The parameters' captures if `tokens` match all of `pp`, else undefined.
 * ok[t][k]: tokens t.. match pieces k.. exactly, computed from the last token
 * back; then each parameter, first to last, takes the most pieces it can.
 */
function matchTokens(
  tokens: Token[],
  pp: PathPieces,
  budget: { left: number },
): string[] | undefined {
  const { seps, texts, partLast } = pp;
  const n = texts.length;
  const r = tokens.length;
  // every token takes at least one piece
  if (r > n) return undefined;
  const w = n + 1;
  budget.left -= (r + 1) * w;
  if (budget.left < 0) throw new RouteTooExpensive();
  const ok = new Uint8Array((r + 1) * w);
  ok[r * w + n] = 1;
  // the largest k with ok[t+1][k], up to each index (for dynamic tokens)
  const upTo = new Int32Array(w);
  for (let t = r - 1; t >= 0; t--) {
    const tok = tokens[t];
    const row = t * w;
    const next = row + w;
    let any = false;
    if (tok.kind === STATIC) {
      for (let k = 0; k < n; k++) {
        if (ok[next + k + 1] && seps[k] === tok.sep && texts[k] === tok.text) {
          ok[row + k] = 1;
          any = true;
        }
      }
    } else {
      let best = -1;
      for (let k = 0; k <= n; k++) {
        if (ok[next + k]) best = k;
        upTo[k] = best;
      }
      for (let k = 0; k < n; k++) {
        if (seps[k] !== tok.sep) continue;
        // the furthest end this parameter could reach from piece k
        const end = tok.kind === WILDCARD ? upTo[n] : upTo[partLast[k] + 1];
        // at least one piece, and not just one empty piece
        if (end >= k + 2 || (end === k + 1 && texts[k] !== "")) {
          ok[row + k] = 1;
          any = true;
        }
      }
    }
    if (!any) return undefined;
  }
  if (!ok[0]) return undefined;
  // forward: each parameter takes the furthest end the rest still matches from
  const captures: string[] = [];
  let k = 0;
  for (let t = 0; t < r; t++) {
    const tok = tokens[t];
    if (tok.kind === STATIC) {
      k++;
      continue;
    }
    const next = (t + 1) * w;
    const limit = tok.kind === WILDCARD ? n : partLast[k] + 1;
    let end = limit;
    while (!ok[next + end]) end--;
    const from = pp.starts[k];
    const to = pp.starts[end - 1] + texts[end - 1].length;
    captures.push(pp.path.slice(from, to));
    k = end;
  }
  return captures;
}
