// A byte budget shared by everything one module holds at once (http-server's
// request bodies, http-client's response bodies), and a stream reader that draws
// on it as it reads.

import { concatBytes } from "./bytes.ts";

/** Bytes in use out of a fixed limit, taken and given back by their holders. */
export class ByteBudget {
  #used = 0;

  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  /** Whether `n` more bytes would fit (nothing is taken). */
  fits(n: number): boolean {
    return this.#used + n <= this.limit;
  }

  /** Takes `n` bytes if they fit and says whether it did. */
  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

/**
 * Reads a whole stream, at most `limit` bytes of it, taking each chunk from
 * `budget` as it arrives. Past `limit` it throws `tooLarge()`, when the budget
 * runs out `overBudget()`: either way the stream is cancelled and what was taken
 * is given back. On success the caller holds `result.length` bytes of the budget
 * and gives them back when it lets go of them.
 */
export async function readStreamBudgeted(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
  budget: ByteBudget,
  tooLarge: () => Error,
  overBudget: () => Error,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > limit) throw tooLarge();
      if (!budget.take(value.length)) throw overBudget();
      total += value.length;
      chunks.push(value);
    }
  } catch (e) {
    budget.give(total);
    await reader.cancel().catch(() => {});
    throw e;
  }
  return concatBytes(chunks, total);
}
