// The input line: its text as grapheme clusters, the cursor between two of
// them, and the window of it that fits beside the prompt (a line wider than the
// terminal scrolls sideways so the cursor stays in view).

import { graphemes, graphemeWidth } from "./width.ts";

export class LineEditor {
  #g: string[] = [];
  /** cursor: index into #g (0 = before the first grapheme) */
  #cursor = 0;
  /** first grapheme shown when the line is wider than its window */
  #scroll = 0;

  get text(): string {
    return this.#g.join("");
  }

  get cursor(): number {
    return this.#cursor;
  }

  get length(): number {
    return this.#g.length;
  }

  /** Replaces the line; the cursor goes to its end. */
  set(text: string): void {
    this.#g = graphemes(text);
    this.#cursor = this.#g.length;
    this.#scroll = 0;
  }

  clear(): void {
    this.set("");
  }

  /** Inserts at the cursor (graphemes that join with a neighbour are re-segmented). */
  insert(text: string): void {
    if (text === "") return;
    const before = this.#g.slice(0, this.#cursor).join("");
    const after = this.#g.slice(this.#cursor).join("");
    const head = graphemes(before + text);
    this.#g = graphemes(before + text + after);
    this.#cursor = Math.min(head.length, this.#g.length);
  }

  /** Deletes the grapheme left of the cursor; false when there is none. */
  backspace(): boolean {
    if (this.#cursor === 0) return false;
    this.#g.splice(--this.#cursor, 1);
    return true;
  }

  /** Deletes the grapheme right of the cursor; false when there is none. */
  delete(): boolean {
    if (this.#cursor >= this.#g.length) return false;
    this.#g.splice(this.#cursor, 1);
    return true;
  }

  left(): boolean {
    if (this.#cursor === 0) return false;
    this.#cursor--;
    return true;
  }

  right(): boolean {
    if (this.#cursor >= this.#g.length) return false;
    this.#cursor++;
    return true;
  }

  home(): void {
    this.#cursor = 0;
  }

  end(): void {
    this.#cursor = this.#g.length;
  }

  /**
   * The part of the line to show in `width` columns, and the cursor's column in it:
   * the window scrolls just enough to keep the cursor visible.
   */
  view(width: number): { text: string; cursorCol: number } {
    const g = this.#g;
    if (width <= 1) return { text: "", cursorCol: 0 };
    const w = (i: number) => graphemeWidth(g[i]);
    if (this.#cursor < this.#scroll) {
      // the cursor went out of view on the left: bring it back to the window's middle
      this.#scroll = this.#cursor;
      let cols = 0;
      while (this.#scroll > 0 && cols + w(this.#scroll - 1) <= width / 2) {
        cols += w(--this.#scroll);
      }
    }
    // columns from the window's start to the cursor (the cursor needs one more)
    let used = 0;
    for (let i = this.#scroll; i < this.#cursor; i++) used += w(i);
    while (used + 1 > width && this.#scroll < this.#cursor) used -= w(this.#scroll++);
    // widen to the left again if the line's end leaves room
    let total = used;
    for (let i = this.#cursor; i < g.length; i++) total += w(i);
    while (this.#scroll > 0 && total + w(this.#scroll - 1) < width) {
      this.#scroll--;
      used += w(this.#scroll);
      total += w(this.#scroll);
    }
    let text = "";
    let cols = 0;
    for (let i = this.#scroll; i < g.length; i++) {
      const gw = w(i);
      if (cols + gw > width) break;
      text += g[i];
      cols += gw;
    }
    return { text, cursorCol: used };
  }
}
