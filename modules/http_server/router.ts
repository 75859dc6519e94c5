// Path patterns with route-recognizer 0.3's semantics, which Hyperdrive's
// http-server uses for bindings:
// - a pattern splits into segments at '/' and '.'; a segment is static text,
//   `:name` (one or more chars other than '/') or `*name` (one or more of any);
// - the best match has the most static segments, then the most dynamic ones,
//   then the most wildcards;
// - patterns equal up to parameter names are the same route (the later add wins);
// - one leading '/' of both pattern and path is ignored.

interface Segment {
  sep: string;
  text: string;
}

function segments(route: string): Segment[] {
  const out: Segment[] = [];
  let start = 0;
  while (start < route.length) {
    let end = route.length;
    for (let i = start + 1; i < route.length; i++) {
      if (route[i] === "/" || route[i] === ".") {
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

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface Route<T> {
  regex: RegExp;
  statics: number;
  dynamics: number;
  wildcards: number;
  names: string[];
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  params: Record<string, string>;
}

export class PathRouter<T> {
  #routes = new Map<string, Route<T>>();
  /**
   * All-static routes by their text. A path an all-static route matches has
   * exactly that route's segments, and any other route matching it has
   * fewer static segments, so an exact hit here is always the best match.
   */
  #exact = new Map<string, Route<T>>();

  add(pattern: string, value: T): void {
    const route = pattern.startsWith("/") ? pattern.slice(1) : pattern;
    let source = "";
    let key = "";
    let statics = 0, dynamics = 0, wildcards = 0;
    const names: string[] = [];
    for (const { sep, text } of segments(route)) {
      source += escapeRegex(sep);
      key += sep;
      if (text.startsWith(":")) {
        source += "([^/]+)";
        key += ":";
        dynamics++;
        names.push(text.slice(1));
      } else if (text.startsWith("*")) {
        source += "(.+)";
        key += "*";
        wildcards++;
        names.push(text.slice(1));
      } else {
        source += escapeRegex(text);
        key += text.replace(/[\\:*]/g, "\\$&");
        statics++;
      }
    }
    const entry = {
      regex: new RegExp(`^${source}$`, "s"),
      statics,
      dynamics,
      wildcards,
      names,
      value,
    };
    this.#routes.set(key, entry);
    if (dynamics === 0 && wildcards === 0) this.#exact.set(route, entry);
  }

  recognize(path: string): RouteMatch<T> | undefined {
    const p = path.startsWith("/") ? path.slice(1) : path;
    const exact = this.#exact.get(p);
    if (exact) return { value: exact.value, params: {} };
    let best: Route<T> | undefined;
    let bestCaptures: RegExpExecArray | undefined;
    for (const route of this.#routes.values()) {
      if (best && !better(route, best)) continue;
      const m = route.regex.exec(p);
      if (!m) continue;
      best = route;
      bestCaptures = m;
    }
    if (!best || !bestCaptures) return undefined;
    const params: Record<string, string> = {};
    best.names.forEach((name, i) => {
      if (name !== "") params[name] = bestCaptures![i + 1];
    });
    return { value: best.value, params };
  }

  get size(): number {
    return this.#routes.size;
  }
}

function better<T>(a: Route<T>, b: Route<T>): boolean {
  if (a.statics !== b.statics) return a.statics > b.statics;
  if (a.dynamics !== b.dynamics) return a.dynamics > b.dynamics;
  return a.wildcards > b.wildcards;
}
