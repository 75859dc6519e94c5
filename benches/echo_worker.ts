// The baseline hand-off of several benches: a bare Worker posting every message straight back.

export function echoWorker(): Worker {
  const url = URL.createObjectURL(
    new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], {
      type: "application/javascript",
    }),
  );
  return new Worker(url, { type: "module" });
}

/** One round trip at a time to an echoWorker() (it takes over the Worker's onmessage). */
export function roundTrips(echo: Worker): () => Promise<void> {
  let echoed: (() => void) | undefined;
  echo.onmessage = () => echoed!();
  return () =>
    new Promise<void>((r) => {
      echoed = r;
      echo.postMessage(0);
    });
}

/**
 * A round trip as a process Worker makes one: the Worker waits in Atomics.wait (the
 * process API's receive blocks, so a process cannot wait in its event loop), is woken
 * by Atomics.notify, and answers with postMessage. The hand-off floor of a synchronous
 * process API, where echoWorker's is that of an asynchronous one.
 */
export function syncRoundTrips(): { hop: () => Promise<void>; stop: () => void } {
  const url = URL.createObjectURL(
    new Blob([
      `self.onmessage = (e) => {
  const s = new Int32Array(e.data);
  let seen = 0;
  self.postMessage(0);
  for (;;) {
    Atomics.wait(s, 0, seen);
    if (Atomics.load(s, 1) !== 0) return self.close();
    seen = Atomics.load(s, 0);
    self.postMessage(0);
  }
};`,
    ], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  // [0] bumped for each round trip; [1] set to stop (terminate() alone does not end a
  // Worker blocked in Atomics.wait here, and the process would not exit)
  const signal = new Int32Array(new SharedArrayBuffer(8));
  let answered: (() => void) | undefined;
  worker.onmessage = () => answered?.();
  worker.postMessage(signal.buffer);
  const started = new Promise<void>((r) => (answered = r));
  return {
    stop: () => {
      Atomics.store(signal, 1, 1);
      Atomics.add(signal, 0, 1);
      Atomics.notify(signal, 0);
    },
    hop: async () => {
      await started;
      await new Promise<void>((r) => {
        answered = r;
        Atomics.add(signal, 0, 1);
        Atomics.notify(signal, 0);
      });
    },
  };
}
