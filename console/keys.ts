// Raw terminal input -> key events: UTF-8 text (a character split across reads
// waits for its rest), control keys (CTRL+A is 0x01 ... CTRL+Z 0x1a; in raw mode
// 0x0a is CTRL+J and Enter sends 0x0d, as crossterm reads them), escape
// sequences for arrows, Home/End and Delete (CSI and SS3 forms), and bracketed
// paste (CSI 200~ ... CSI 201~). Bytes that are not UTF-8 become an `invalid`
// event (the console says so) and are skipped.

export type KeyName =
  | "enter"
  | "tab"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "escape";

export type InputEvent =
  | { kind: "key"; key: KeyName }
  /** CTRL+<letter>, the letter in lower case */
  | { kind: "ctrl"; key: string }
  | { kind: "text"; text: string }
  /** a bracketed paste; `dropped` counts bytes beyond `maxPaste`, which are not kept */
  | { kind: "paste"; text: string; dropped: number }
  | { kind: "invalid"; bytes: number };

const PASTE_START = [0x1b, 0x5b, 0x32, 0x30, 0x30, 0x7e]; // ESC [ 2 0 0 ~
const PASTE_END = [0x1b, 0x5b, 0x32, 0x30, 0x31, 0x7e]; // ESC [ 2 0 1 ~

/** The length of a UTF-8 sequence from its first byte; 0 if it cannot start one. */
function utf8Length(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** Whether b[i..i+n) is one well-formed UTF-8 character (no overlongs, surrogates). */
function validAt(b: Uint8Array, i: number, n: number): boolean {
  for (let k = 1; k < n; k++) if ((b[i + k] & 0xc0) !== 0x80) return false;
  const b0 = b[i], b1 = b[i + 1];
  if (n === 3) {
    if (b0 === 0xe0 && b1 < 0xa0) return false;
    if (b0 === 0xed && b1 >= 0xa0) return false;
  }
  if (n === 4) {
    if (b0 === 0xf0 && b1 < 0x90) return false;
    if (b0 === 0xf4 && b1 >= 0x90) return false;
  }
  return true;
}

function startsWith(b: Uint8Array, i: number, seq: number[]): boolean | "partial" {
  for (let k = 0; k < seq.length; k++) {
    if (i + k >= b.length) return "partial";
    if (b[i + k] !== seq[k]) return false;
  }
  return true;
}

export class KeyDecoder {
  #rest = new Uint8Array(0);
  #paste: Uint8Array[] | undefined;
  #pasteBytes = 0;
  readonly #dec = new TextDecoder("utf-8", { fatal: true });

  constructor(readonly maxPaste = 64 * 1024) {}

  /** The events in `chunk` (with what was left over from the chunk before). */
  push(chunk: Uint8Array): InputEvent[] {
    let b = chunk;
    if (this.#rest.length > 0) {
      b = new Uint8Array(this.#rest.length + chunk.length);
      b.set(this.#rest);
      b.set(chunk, this.#rest.length);
      this.#rest = new Uint8Array(0);
    }
    const out: InputEvent[] = [];
    let text = "";
    const flushText = () => {
      if (text !== "") out.push({ kind: "text", text });
      text = "";
    };
    let i = 0;
    while (i < b.length) {
      if (this.#paste) {
        // inside a paste: everything up to ESC [ 201 ~
        let end = -1;
        for (let k = i; k < b.length; k++) {
          if (b[k] === 0x1b) {
            const m = startsWith(b, k, PASTE_END);
            if (m === true) {
              end = k;
              break;
            }
            if (m === "partial") {
              this.#addPaste(b.subarray(i, k));
              this.#rest = b.slice(k);
              return out;
            }
          }
        }
        if (end < 0) {
          this.#addPaste(b.subarray(i));
          return out;
        }
        this.#addPaste(b.subarray(i, end));
        out.push(this.#endPaste());
        i = end + PASTE_END.length;
        continue;
      }
      const c = b[i];
      if (c === 0x1b) {
        flushText();
        const p = startsWith(b, i, PASTE_START);
        if (p === true) {
          this.#paste = [];
          this.#pasteBytes = 0;
          i += PASTE_START.length;
          continue;
        }
        const n = this.#escape(b, i, out);
        if (n === 0) {
          // an unfinished sequence: wait for its rest
          this.#rest = b.slice(i);
          return out;
        }
        i += n;
        continue;
      }
      if (c < 0x20 || c === 0x7f) {
        flushText();
        if (c === 0x0d) out.push({ kind: "key", key: "enter" });
        else if (c === 0x09) out.push({ kind: "key", key: "tab" });
        else if (c === 0x7f || c === 0x08) out.push({ kind: "key", key: "backspace" });
        else if (c >= 0x01 && c <= 0x1a) {
          out.push({ kind: "ctrl", key: String.fromCharCode(0x60 + c) });
        }
        i++;
        continue;
      }
      const n = utf8Length(c);
      if (n === 0) {
        flushText();
        let bad = 1;
        while (i + bad < b.length && utf8Length(b[i + bad]) === 0 && b[i + bad] >= 0x80) bad++;
        out.push({ kind: "invalid", bytes: bad });
        i += bad;
        continue;
      }
      if (i + n > b.length) {
        // the rest of this character comes with the next read, unless it is already wrong
        let ok = true;
        for (let k = i + 1; k < b.length; k++) if ((b[k] & 0xc0) !== 0x80) ok = false;
        if (ok) {
          flushText();
          this.#rest = b.slice(i);
          return out;
        }
      }
      if (i + n > b.length || !validAt(b, i, n)) {
        flushText();
        out.push({ kind: "invalid", bytes: 1 });
        i += 1;
        continue;
      }
      text += this.#dec.decode(b.subarray(i, i + n));
      i += n;
    }
    flushText();
    return out;
  }

  /** Bytes of the escape sequence at b[i] (its event pushed); 0 when it is not complete yet. */
  #escape(b: Uint8Array, i: number, out: InputEvent[]): number {
    if (i + 1 >= b.length) {
      // a lone ESC at the end of a read: the Escape key (terminals send sequences whole)
      out.push({ kind: "key", key: "escape" });
      return 1;
    }
    const kind = b[i + 1];
    if (kind === 0x4f) {
      // SS3: ESC O <final>
      if (i + 2 >= b.length) return 0;
      const key = ss3Key(b[i + 2]);
      if (key) out.push({ kind: "key", key });
      return 3;
    }
    if (kind !== 0x5b) {
      // ESC then another key (Alt+key): the key alone, as if Alt were not held
      out.push({ kind: "key", key: "escape" });
      return 1;
    }
    // CSI: parameter bytes 0x30-0x3f, intermediates 0x20-0x2f, one final byte 0x40-0x7e
    let k = i + 2;
    while (k < b.length && b[k] >= 0x20 && b[k] <= 0x3f) k++;
    if (k >= b.length) return 0;
    const final = b[k];
    const params = new TextDecoder().decode(b.subarray(i + 2, k));
    const key = csiKey(params, final);
    if (key) out.push({ kind: "key", key });
    return k - i + 1;
  }

  #addPaste(part: Uint8Array) {
    this.#pasteBytes += part.length;
    if (this.#pasteBytes <= this.maxPaste) this.#paste!.push(part.slice());
  }

  #endPaste(): InputEvent {
    const parts = this.#paste!;
    this.#paste = undefined;
    const dropped = Math.max(0, this.#pasteBytes - this.maxPaste);
    if (dropped > 0) return { kind: "paste", text: "", dropped: this.#pasteBytes };
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return { kind: "paste", text: new TextDecoder().decode(all), dropped: 0 };
  }
}

function ss3Key(final: number): KeyName | undefined {
  switch (String.fromCharCode(final)) {
    case "A":
      return "up";
    case "B":
      return "down";
    case "C":
      return "right";
    case "D":
      return "left";
    case "H":
      return "home";
    case "F":
      return "end";
  }
  return undefined;
}

function csiKey(params: string, final: number): KeyName | undefined {
  const f = String.fromCharCode(final);
  if (f === "~") {
    switch (params.split(";")[0]) {
      case "1":
      case "7":
        return "home";
      case "4":
      case "8":
        return "end";
      case "3":
        return "delete";
    }
    return undefined;
  }
  return ss3Key(final);
}
