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
