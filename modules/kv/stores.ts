// The open kv databases of a node: one KvStore per database directory, opened on first
// use and closed least recently used first beyond a limit (a store held by an action is
// never closed under it). kv's Worker (worker.ts) holds the node's stores; the module
// itself holds them when it runs without that Worker.

import { join } from "node:path";
import { ioErrorMessage } from "../shared/runtime.ts";
import { KvBackendError, KvStore, type TxOp } from "./store.ts";

const DB_FILE = "kv.sqlite3";

/** The database a non-creating action names does not exist (the module answers NoDb). */
export class NoSuchDb extends Error {}

/** An open (or opening) store and the actions holding it. */
interface OpenDb {
  store: Promise<KvStore>;
  /** the store once open: actions on it then skip the awaits of opening */
  ready?: KvStore;
  /** actions between acquiring and releasing it: the LRU never closes a held store */
  users: number;
  /** removed while held: closed when the last user is done */
  dropped: boolean;
}

/** What the module does on a database: the same whether the stores are here or on kv's Worker. */
export interface StoreOps {
  /** Opens the database (creating it when `create`); NoSuchDb when absent and not created. */
  open(dbKey: string, create: boolean): Promise<void>;
  /**
   * The value of `key`, or undefined. `hold(n)` takes a chunked value's bytes from the
   * in-flight budget before they are read (it throws to refuse); `adopt(n)` hands over
   * bytes taken elsewhere (kv's Worker) for the caller to release.
   */
  get(
    dbKey: string,
    key: Uint8Array,
    hold: (n: number) => void,
    adopt: (n: number) => void,
  ): Promise<Uint8Array | undefined>;
  /** Applies ops in one atomic commit. */
  commit(dbKey: string, ops: TxOp[]): Promise<void>;
  /** Closes the database (once its actions are done) and deletes its directory. */
  remove(dbKey: string): Promise<void>;
  /** Closes every store. */
  close(): Promise<void>;
}

export class KvStores implements StoreOps {
  /** open stores by db key, least recently used first */
  #dbs = new Map<string, OpenDb>();

  constructor(readonly root: string, readonly maxOpen: number) {}

  open(dbKey: string, create: boolean): Promise<void> {
    return this.use(dbKey, create, () => Promise.resolve());
  }

  get(
    dbKey: string,
    key: Uint8Array,
    hold: (n: number) => void,
  ): Promise<Uint8Array | undefined> {
    return this.use(dbKey, false, (s) => s.get(key, hold));
  }

  commit(dbKey: string, ops: TxOp[]): Promise<void> {
    return this.use(dbKey, false, (s) => s.commit(ops));
  }

  async remove(dbKey: string): Promise<void> {
    const open = this.#dbs.get(dbKey);
    if (open) this.#drop(dbKey, open);
    await Deno.remove(join(this.root, dbKey), { recursive: true });
  }

  async close(): Promise<void> {
    const open = [...this.#dbs.values()];
    this.#dbs.clear();
    for (const db of open) await this.#close(db);
  }

  /**
   * Runs `fn` on the database's store, opening it if needed (creating it when `create`,
   * else NoSuchDb when it does not exist), and holding it so the LRU cannot close it.
   */
  use<T>(dbKey: string, create: boolean, fn: (store: KvStore) => Promise<T>): Promise<T> {
    const open = this.#dbs.get(dbKey);
    const store = open?.ready;
    if (!open || !store) return this.#useOpening(dbKey, create, fn);
    // open already: held without the awaits of opening
    this.#hold(dbKey, open);
    let run: Promise<T>;
    try {
      run = fn(store);
    } catch (e) {
      run = Promise.reject(e);
    }
    return run.finally(() => this.#release(open));
  }

  async #useOpening<T>(
    dbKey: string,
    create: boolean,
    fn: (store: KvStore) => Promise<T>,
  ): Promise<T> {
    const db = await this.#acquire(dbKey, create);
    try {
      return await fn(await db.store);
    } finally {
      await this.#release(db);
    }
  }

  /** Marks `db` most recently used and held by one more action. */
  #hold(dbKey: string, db: OpenDb): void {
    this.#dbs.delete(dbKey);
    this.#dbs.set(dbKey, db);
    db.users++;
    this.#evictIdle();
  }

  /** One action is done with `db`; a store removed while held closes with its last user. */
  #release(db: OpenDb): Promise<void> | undefined {
    db.users--;
    return db.dropped && db.users === 0 ? this.#close(db) : undefined;
  }

  async #acquire(dbKey: string, create: boolean): Promise<OpenDb> {
    let db = this.#dbs.get(dbKey);
    if (!db) {
      const file = join(this.root, dbKey, DB_FILE);
      if (create) {
        await Deno.mkdir(join(this.root, dbKey), { recursive: true });
      } else {
        try {
          await Deno.stat(file);
        } catch {
          throw new NoSuchDb(dbKey);
        }
      }
      // another action may have opened it meanwhile: one store per file
      db = this.#dbs.get(dbKey) ?? this.#open(dbKey, file);
    }
    this.#hold(dbKey, db);
    return db;
  }

  #open(dbKey: string, file: string): OpenDb {
    const db: OpenDb = {
      store: KvStore.open(file).then((store) => (db.ready = store), (e) => {
        if (this.#dbs.get(dbKey) === db) this.#dbs.delete(dbKey);
        throw e instanceof KvBackendError ? e : new KvBackendError(ioErrorMessage(e));
      }),
      users: 0,
      dropped: false,
    };
    return db;
  }

  /** Closes least recently used stores beyond the limit, skipping held ones. */
  #evictIdle(): void {
    for (const [key, db] of this.#dbs) {
      if (this.#dbs.size <= this.maxOpen) return;
      if (db.users > 0) continue;
      this.#dbs.delete(key);
      void this.#close(db);
    }
  }

  #drop(dbKey: string, db: OpenDb): void {
    this.#dbs.delete(dbKey);
    if (db.users === 0) void this.#close(db);
    else db.dropped = true;
  }

  async #close(db: OpenDb): Promise<void> {
    try {
      (await db.store).close();
    } catch {
      // it never opened
    }
  }
}
