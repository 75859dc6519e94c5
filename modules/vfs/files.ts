// The vfs's open files: handles kept between requests so a file's cursor persists
// (Hyperdrive's `Files`). Requests of different processes run concurrently (the
// mailbox's lanes), so a handle is used under its own lock, as Hyperdrive holds each
// file's mutex for an action, and is never closed while an action holds it.

/** An open handle and who holds it. */
interface Handle {
  file: Deno.FsFile;
  /** actions holding it (acquired, not yet released) */
  users: number;
  /** taken out of the table; closed when the last user lets go */
  dropped: boolean;
  closed: boolean;
  /** the tail of this file's lock: the previous holder's release */
  lock: Promise<void>;
}

/** Open handles by host path, least recently used first; cursors survive eviction. */
export class OpenFiles {
  #files = new Map<string, Handle>();
  #savedCursor = new Map<string, number>();

  constructor(readonly limit: number) {}

  /**
   * Runs `fn` on the file at `path` (opened with read and write, created or
   * truncated as asked), holding the file's lock: another action on the same file
   * waits its turn. Open errors are thrown before `fn` runs.
   */
  async use<T>(
    path: string,
    create: boolean,
    truncate: boolean,
    fn: (file: Deno.FsFile) => Promise<T>,
  ): Promise<T> {
    const h = this.#acquire(path, create, truncate);
    const previous = h.lock;
    let unlock!: () => void;
    h.lock = new Promise((resolve) => unlock = resolve);
    try {
      await previous;
      return await fn(h.file);
    } finally {
      unlock();
      h.users--;
      if (h.dropped && h.users === 0) this.#close(h);
    }
  }

  /**
   * The handle for `path`, held by one more user. Synchronous, so the table never
   * changes between looking a path up and taking its handle.
   */
  #acquire(path: string, create: boolean, truncate: boolean): Handle {
    let h = this.#files.get(path);
    if (h) {
      this.#files.delete(path);
      this.#files.set(path, h);
      h.users++;
      return h;
    }
    const file = Deno.openSync(path, { read: true, write: true, create, truncate });
    const pos = this.#savedCursor.get(path);
    if (pos !== undefined) {
      this.#savedCursor.delete(path);
      if (!truncate) file.seekSync(pos, Deno.SeekMode.Start);
    }
    h = { file, users: 1, dropped: false, closed: false, lock: Promise.resolve() };
    this.#files.set(path, h);
    this.#evictIdle();
    return h;
  }

  /** Closes least recently used handles beyond the limit, skipping any held ones. */
  #evictIdle(): void {
    for (const [path, h] of this.#files) {
      if (this.#files.size <= this.limit) return;
      if (h.users > 0) continue;
      this.#files.delete(path);
      try {
        const at = h.file.seekSync(0, Deno.SeekMode.Current);
        if (at !== 0) this.#savedCursor.set(path, at);
      } catch {
        // a handle that cannot report its cursor starts over at 0
      }
      this.#close(h);
    }
  }

  #close(h: Handle): void {
    if (h.closed) return;
    h.closed = true;
    h.file.close();
  }

  /** Takes `path` out of the table; closed now, or once its holders are done. */
  #drop(path: string, h: Handle): void {
    this.#files.delete(path);
    if (h.users === 0) this.#close(h);
    else h.dropped = true;
  }

  /** Forgets `path`'s handle and cursor (CloseFile, CreateFile, a removed file). */
  close(path: string): void {
    const h = this.#files.get(path);
    if (h) this.#drop(path, h);
    this.#savedCursor.delete(path);
  }

  /** Forgets every handle at or below `path` (it was removed or moved). */
  closeUnder(path: string): void {
    const prefix = path.endsWith("/") ? path : path + "/";
    for (const p of [...this.#files.keys(), ...this.#savedCursor.keys()]) {
      if (p === path || p.startsWith(prefix)) this.close(p);
    }
  }

  /** At shutdown: every handle closed, held or not. */
  closeAll(): void {
    for (const h of this.#files.values()) this.#close(h);
    this.#files.clear();
    this.#savedCursor.clear();
  }
}
