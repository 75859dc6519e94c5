// The floors of kv's process path as it is built (a process Worker writes a request and
// rings kv's Worker, which runs it on Deno KV and answers the process directly), with
// none of the runtime's code in them: two bare Workers and a SharedArrayBuffer.
//   structure: the request is an op code and a key number, the answer a counter;
//   protocol: what any kv client and server of Hyperware's kv API must do per request on
//     this shape: the app builds the request's JSON as process_lib does
//     ({"package_id":..,"db":..,"action":{"Set":{"key":[..],"tx_id":null}}}) with the
//     value as the blob, kv parses it and answers with kv's JSON ("Ok", {"Get":[..]}) and
//     the value, the app parses and checks that. The bytes are copied through shared
//     memory; no message envelope, ids, caps, limits or timeouts.
// The process waits for each answer in Atomics.wait, as a process does; kv's Worker waits
// for requests in Atomics.waitAsync, as kv's does.

// ctl words: 0 bell (requests), 1 answers, 2 body length, 3 blob length, 4 op (1 pairs of
// the structure, 2 of the protocol, 9 stop), 5 answer body length, 6 answer blob length
const BODY = 64;
const BLOB = 32 * 1024;

const KV_WORKER = `
const dec = new TextDecoder();
const enc = new TextEncoder();
self.onmessage = async (e) => {
  const s = new Int32Array(e.data.sab, 0, 16);
  const bytes = new Uint8Array(e.data.sab);
  const kv = await Deno.openKv(e.data.file);
  const value = new Uint8Array(100).fill(7);
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    while (Atomics.load(s, 0) === seen) await Atomics.waitAsync(s, 0, seen).value;
    seen = Atomics.load(s, 0);
    const op = Atomics.load(s, 4);
    if (op === 9) break;
    if (op === 1) {
      // structure: [2] key number, [3] 1 set / 2 get
      const k = Atomics.load(s, 2);
      if (Atomics.load(s, 3) === 1) await kv.set(["k", k], value);
      else await kv.get(["k", k]);
    } else {
      const req = JSON.parse(dec.decode(bytes.slice(${BODY}, ${BODY} + Atomics.load(s, 2))));
      const a = req.action;
      let answer;
      let out;
      if (a.Set) {
        const blob = bytes.slice(${BLOB}, ${BLOB} + Atomics.load(s, 3));
        await kv.set(["k", new Uint8Array(a.Set.key)], blob);
        answer = enc.encode('"Ok"');
      } else {
        const got = await kv.get(["k", new Uint8Array(a.Get)]);
        answer = enc.encode('{"Get":[' + a.Get.join(",") + "]}");
        out = got.value;
      }
      bytes.set(answer, ${BODY});
      Atomics.store(s, 5, answer.length);
      if (out) bytes.set(out, ${BLOB});
      Atomics.store(s, 6, out ? out.length : 0);
    }
    Atomics.add(s, 1, 1);
    Atomics.notify(s, 1);
  }
  kv.close();
  self.postMessage("closed");
};`;

const APP_WORKER = `
const dec = new TextDecoder();
const enc = new TextEncoder();
const PKG = { package_name: "storage", publisher_node: "test.os" };
const VALUE = new Uint8Array(100).fill(7);
self.onmessage = (e) => {
  const { sab, protocol, from, n } = e.data;
  const s = new Int32Array(sab, 0, 16);
  const bytes = new Uint8Array(sab);
  function ask(action, blob) {
    const body = enc.encode(JSON.stringify({ package_id: PKG, db: "bench", action }));
    bytes.set(body, ${BODY});
    Atomics.store(s, 2, body.length);
    if (blob) bytes.set(blob, ${BLOB});
    Atomics.store(s, 3, blob ? blob.length : 0);
    return call();
  }
  function call() {
    const before = Atomics.load(s, 1);
    Atomics.add(s, 0, 1);
    Atomics.notify(s, 0);
    while (Atomics.load(s, 1) === before) Atomics.wait(s, 1, before);
    if (!protocol) return;
    const answer = JSON.parse(dec.decode(bytes.slice(${BODY}, ${BODY} + Atomics.load(s, 5))));
    const blobLen = Atomics.load(s, 6);
    return { answer, blob: blobLen > 0 ? bytes.slice(${BLOB}, ${BLOB} + blobLen) : undefined };
  }
  Atomics.store(s, 4, protocol ? 2 : 1);
  for (let i = from; i < from + n; i++) {
    if (protocol) {
      const key = Array.from(enc.encode("p" + i));
      if (ask({ Set: { key, tx_id: null } }, VALUE).answer !== "Ok") throw new Error("set");
      const got = ask({ Get: key });
      if (got.answer.Get === undefined || got.blob?.length !== VALUE.length) throw new Error("get");
    } else {
      Atomics.store(s, 2, i);
      Atomics.store(s, 3, 1);
      call();
      Atomics.store(s, 3, 2);
      call();
    }
  }
  self.postMessage(n);
};`;

const url = (src: string) =>
  URL.createObjectURL(new Blob([src], { type: "application/javascript" }));

/** kv's process path with none of the runtime's code: `pairs(protocol, from, n)` runs n set+get pairs. */
export async function kvChannelFloor(file: string) {
  const sab = new SharedArrayBuffer(64 * 1024);
  const s = new Int32Array(sab, 0, 16);
  const kv = new Worker(url(KV_WORKER), { type: "module" });
  await new Promise((r) => {
    kv.onmessage = r;
    kv.postMessage({ sab, file });
  });
  const app = new Worker(url(APP_WORKER), { type: "module" });
  let done: (() => void) | undefined;
  let failed: ((e: unknown) => void) | undefined;
  app.onmessage = () => done?.();
  app.onerror = (e) => {
    e.preventDefault();
    failed?.(new Error(`kv floor: ${e.message}`));
  };
  return {
    pairs(protocol: boolean, from: number, n: number): Promise<void> {
      return new Promise((resolve, reject) => {
        done = resolve;
        failed = reject;
        app.postMessage({ sab, protocol, from, n });
      });
    },
    async close() {
      app.terminate();
      const closed = new Promise((r) => (kv.onmessage = r));
      Atomics.store(s, 4, 9);
      Atomics.add(s, 0, 1);
      Atomics.notify(s, 0);
      await closed;
      kv.terminate();
    },
  };
}
