// A counter that other nodes can bump: the SDK's sample app. The same file runs
// as a process module and builds into a component (sdk/build.ts).
import { err, hyperapp, type Infer, ok, type Result, t } from "../../mod.ts";

const Mood = t.enumeration("mood", ["Happy", "Grumpy"]);
const Note = t.record("note", { from: t.address, text: t.string, mood: Mood });

export const app = hyperapp({
  name: "Counter",
  save: "EveryMessage",
  state: () => ({ count: 0, notes: [] as Infer<typeof Note>[] }),
  endpoints: [{ http: "/api" }, { ws: "/updates" }],
  ui: {},
})
  .init((cx) => cx.print(`counting from ${cx.state.count}`, 1))
  // {"Increment": amount} -> the new count
  .method(
    "increment",
    { remote: true, local: true, http: true, args: { amount: t.u32 }, returns: t.u64 },
    (cx, { amount }) => {
      cx.state.count += amount;
      for (const ch of cx.channels()) cx.push(ch, JSON.stringify({ count: cx.state.count }));
      return cx.state.count;
    },
  )
  // GET /api/count (no body), or {"GetCount": null}
  .method(
    "get_count",
    { remote: true, local: true, http: { method: "GET", path: "/api/count" }, returns: t.u64 },
    (cx) => cx.state.count,
  )
  // {"Leave": [text, mood]} from another node
  .method(
    "leave",
    { remote: true, args: { text: t.string, mood: Mood }, returns: t.result(t.u32, t.string) },
    (cx, { text, mood }) => {
      if (!text) return err("empty note");
      cx.state.notes.push({ from: cx.source, text, mood });
      return ok(cx.state.notes.length);
    },
  )
  .method(
    "notes",
    { local: true, http: true, returns: t.list(Note) },
    (cx) => cx.state.notes,
  )
  // bumps the counter of the same app at `target` (another node): a typed remote call
  // (the handler's return type is written out: it refers to `app` itself)
  .method(
    "bump_peer",
    {
      local: true,
      http: true,
      args: { target: t.address, amount: t.u32 },
      returns: t.result(t.u64, t.string),
    },
    (_cx, { target, amount }): Result<number, string> =>
      ok(app.at(target, { timeout: 5 }).increment({ amount })),
  )
  .ws((cx, msg) => cx.push(msg.channel, JSON.stringify({ count: cx.state.count, said: msg.text })));

export const init = app.main;
