// The router against an oracle: route-recognizer's rules written as one regex per
// route, as http-server matched before (a backtracking regex gives the greedy
// captures). Random patterns and paths over a small alphabet must route alike.

import { assertEquals } from "../assert.ts";
import { PathRouter } from "../../modules/http_server/router.ts";

class RegexRouter<T> {
  #routes = new Map<
    string,
    { re: RegExp; s: number; d: number; w: number; names: string[]; value: T }
  >();
  add(pattern: string, value: T): void {
    const route = pattern.startsWith("/") ? pattern.slice(1) : pattern;
    let source = "", key = "";
    let s = 0, d = 0, w = 0;
    const names: string[] = [];
    for (const m of route.matchAll(/([/.]?)([^/.]*)/g)) {
      if (m[0] === "" && m.index! >= route.length) break;
      const [, sep, text] = m;
      source += sep === "" ? "" : `\\${sep}`;
      key += sep;
      if (text.startsWith(":")) {
        source += "([^/]+)";
        key += ":";
        d++;
        names.push(text.slice(1));
      } else if (text.startsWith("*")) {
        source += "(.+)";
        key += "*";
        w++;
        names.push(text.slice(1));
      } else {
        source += text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        key += text.replace(/[\\:*]/g, "\\$&");
        s++;
      }
    }
    this.#routes.set(key, { re: new RegExp(`^${source}$`, "s"), s, d, w, names, value });
  }
  recognize(path: string) {
    const p = path.startsWith("/") ? path.slice(1) : path;
    let best;
    let caps: RegExpExecArray | undefined;
    for (const r of this.#routes.values()) {
      if (best && !(r.s !== best.s ? r.s > best.s : r.d !== best.d ? r.d > best.d : r.w > best.w)) {
        continue;
      }
      const m = r.re.exec(p);
      if (m) [best, caps] = [r, m];
    }
    if (!best) return undefined;
    const params: Record<string, string> = {};
    best.names.forEach((n, i) => {
      if (n !== "") params[n] = caps![i + 1];
    });
    return { value: best.value, params };
  }
}

Deno.test("router: routes exactly as the per-route regex did, on random patterns and paths", () => {
  let seed = 20261202;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed % n;
  };
  const segs = ["a", "b", "", "ab", ":x", ":y", ":", "*w", "*v", "*"];
  let matched = 0;
  for (let round = 0; round < 2000; round++) {
    const oracle = new RegexRouter<number>();
    const router = new PathRouter<number>();
    const n = 1 + rnd(6);
    for (let i = 0; i < n; i++) {
      let pattern = rnd(3) === 0 ? "" : "/";
      const len = 1 + rnd(5);
      for (let k = 0; k < len; k++) {
        if (k > 0 || rnd(4) === 0) pattern += rnd(2) ? "/" : ".";
        pattern += segs[rnd(segs.length)];
      }
      oracle.add(pattern, i);
      router.add(pattern, i);
    }
    for (let q = 0; q < 30; q++) {
      let path = rnd(2) ? "/" : "";
      const len = rnd(14);
      for (let c = 0; c < len; c++) path += "ab/.".charAt(rnd(4));
      const want = oracle.recognize(path);
      if (want) matched++;
      assertEquals(router.recognize(path), want, path);
    }
  }
  // the alphabet is small enough that a good share of the paths match something
  assertEquals(matched > 5000, true, `${matched} matched`);
});
