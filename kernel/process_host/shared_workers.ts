// Workers that hold several processes: components built to suspend (program.ts) of one
// package share a Worker, as Hyperdrive runs every process in one wasmtime engine. A
// Worker of its own costs a component ~15 MB, most of it the Worker; in a shared one each
// costs about a third of that (BENCHMARKS.md, #16).
//
// Processes of one package only: they share a tmp drive, so the Worker's Deno permissions
// stay what each of them would get alone. A stopped process throws out of its next loop
// iteration or wait (interrupt.ts, wasi.ts) and its neighbours go on; one that does not
// leave within STOP_GRACE_MS takes the Worker, and its neighbours, down with it.

import { processWorker, type SharedWorkerNote, type WorkerInit } from "./protocol.ts";

/** Processes per shared Worker: past it, a package's next process opens another Worker. */
export const PROCESSES_PER_WORKER = 16;
/** How long a stopped process may take to leave its Worker before the Worker is ended. */
export const STOP_GRACE_MS = 2000;

/** What a shared Worker's process hears of the Worker itself. */
export interface SharedWorkerMember {
  /** The Worker ended under the process (it failed, or a neighbour would not stop). */
  workerEnded(error: string): void;
}

interface Group {
  key: string;
  worker: Worker;
  /** processes in it, by id: running, or stopped and not yet gone */
  members: Map<number, SharedWorkerMember>;
  /** stopped processes' deadlines to leave */
  leaving: Map<number, ReturnType<typeof setTimeout>>;
  ended: boolean;
}

/** A place in a shared Worker, as a process host holds it. */
export interface SharedWorkerSeat {
  worker: Worker;
  /** Hands the process to its Worker. */
  start(init: WorkerInit, transfer: Transferable[]): void;
  /** The process was stopped: it must leave its Worker within STOP_GRACE_MS. */
  stopped(): void;
  /** Processes in its Worker now, itself included (`top` divides nothing: it says so). */
  readonly processes: number;
}

export class SharedWorkers {
  private readonly groups = new Map<string, Group[]>();
  private nextId = 1;

  /**
   * A place for one more process of the package whose tmp drive is `tmpDir`, in a Worker
   * allowed to read `readable` (its glue) and the drive.
   */
  seat(
    packageName: string,
    tmpDir: string | undefined,
    readable: string[],
    member: SharedWorkerMember,
  ): SharedWorkerSeat {
    const key = JSON.stringify([tmpDir ?? "", [...readable].sort()]);
    let list = this.groups.get(key);
    if (!list) this.groups.set(key, list = []);
    let group = list.find((g) => !g.ended && g.members.size < PROCESSES_PER_WORKER);
    if (!group) {
      group = this.open(key, packageName, tmpDir, readable);
      list.push(group);
    }
    const g = group;
    const id = this.nextId++;
    g.members.set(id, member);
    return {
      worker: g.worker,
      get processes() {
        return g.members.size;
      },
      start: (init, transfer) => {
        if (g.ended) return member.workerEnded("its Worker had ended");
        g.worker.postMessage({ ...init, shared: true, id }, transfer);
      },
      stopped: () => {
        if (g.ended || !g.members.has(id) || g.leaving.has(id)) return;
        g.leaving.set(
          id,
          setTimeout(() => {
            if (!g.members.has(id)) return;
            this.end(g, `a process in its Worker did not stop within ${STOP_GRACE_MS} ms`, id);
          }, STOP_GRACE_MS),
        );
      },
    };
  }

  private open(key: string, packageName: string, tmpDir: string | undefined, readable: string[]) {
    const worker = processWorker(`shared:${packageName}`, readable, tmpDir);
    const group: Group = { key, worker, members: new Map(), leaving: new Map(), ended: false };
    worker.onmessage = (e: MessageEvent<SharedWorkerNote>) => {
      if (e.data?.t === "gone" && e.data.id !== undefined) this.gone(group, e.data.id);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.end(group, `worker error: ${e.message}`);
    };
    return group;
  }

  /** A process left its Worker; a Worker left empty ends (its memory goes with it). */
  private gone(group: Group, id: number) {
    clearTimeout(group.leaving.get(id));
    group.leaving.delete(id);
    group.members.delete(id);
    if (group.members.size === 0) this.end(group);
  }

  /** Ends a Worker; its processes but `except` are told why (none when it is empty). */
  private end(group: Group, error?: string, except?: number) {
    if (group.ended) return;
    group.ended = true;
    group.worker.terminate();
    for (const t of group.leaving.values()) clearTimeout(t);
    const list = this.groups.get(group.key);
    if (list) {
      list.splice(list.indexOf(group), 1);
      if (list.length === 0) this.groups.delete(group.key);
    }
    if (error === undefined) return;
    for (const [id, m] of group.members) {
      if (id !== except && !group.leaving.has(id)) m.workerEnded(error);
    }
  }
}
