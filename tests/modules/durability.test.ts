// kill -9 of a node in the middle of a stream of kv sets, sqlite inserts and vfs
// appends: after reboot every acknowledged write is there and no store is corrupt.

import { assert, assertEquals } from "../assert.ts";
import { bootStorageNode } from "./node_helpers.ts";

const PKG = { package_name: "storage", publisher_node: "test.os" };
const KILL_AFTER_ACKS = 120;
const dec = (b?: Uint8Array) => new TextDecoder().decode(b);

/** Run the child until it acknowledged `acks` steps, then SIGKILL it; returns the last ack. */
async function runAndKill(root: string, acks: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      new URL("./fixtures/durability_node.ts", import.meta.url).pathname,
      root,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  let last = -1;
  let buf = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(kill, 120_000);
  try {
    while (last < acks - 1) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith("ack ")) last = Number(line.slice(4));
        else if (line.startsWith("error")) throw new Error(`child: ${line}`);
      }
    }
    // the next step is already under way: kill it mid-write
    kill();
  } finally {
    clearTimeout(deadline);
    kill(); // never leave it running
    await reader.cancel().catch(() => {});
  }
  const status = await child.status;
  const err = await new Response(child.stderr).text();
  if (last < acks - 1) throw new Error(`child ended early (${status.code}): ${err}`);
  assertEquals(status.signal, "SIGKILL");
  return last;
}

Deno.test("durability: every acknowledged write survives kill -9; stores intact", async () => {
  const root = await Deno.makeTempDir({ prefix: "hd-storage-kill-" });
  try {
    const last = await runAndKill(root, KILL_AFTER_ACKS);
    const n = await bootStorageNode(`${root}/home`);
    try {
      const ask = async (target: string, body: unknown, blob?: string) => {
        const r = await n.node.request(target, JSON.stringify(body), {
          blob: blob === undefined ? undefined : new TextEncoder().encode(blob),
        });
        return { text: dec(r.body), blob: dec(r.blob?.bytes) };
      };
      const kv = (action: unknown, blob?: string) =>
        ask("our@kv:distro:sys", { package_id: PKG, db: "dur", action }, blob);
      const sql = (query: string) =>
        ask("our@sqlite:distro:sys", { package_id: PKG, db: "dur", action: { Query: query } });

      for (let i = 0; i <= last; i++) {
        const key = Array.from(new TextEncoder().encode(`k${i}`));
        const r = await kv({ Get: key });
        assertEquals([r.text, r.blob], [`{"Get":${JSON.stringify(key)}}`, `value ${i}`], `kv ${i}`);
      }
      // the kv store still takes writes
      assertEquals((await kv({ Set: { key: [0], tx_id: null } }, "after")).text, '"Ok"');

      const rows = JSON.parse((await sql("SELECT i, v FROM acked ORDER BY i")).blob) as {
        i: number;
        v: string;
      }[];
      assert(rows.length === last + 1 || rows.length === last + 2, `${rows.length} rows`);
      rows.slice(0, last + 1).forEach((row, i) => assertEquals(row, { i, v: `row ${i}` }));
      assertEquals((await sql("PRAGMA integrity_check")).blob, '[{"integrity_check":"ok"}]');

      const log = await ask("our@vfs:distro:sys", {
        path: "/storage:test.os/data/log.txt",
        action: "Read",
      });
      const want = Array.from({ length: last + 1 }, (_, i) => `${i}\n`).join("");
      assert(log.blob.startsWith(want), "acknowledged appends missing");
      assert(`${last + 1}\n`.startsWith(log.blob.slice(want.length)), "garbage after the log");
    } finally {
      await n.stop();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
