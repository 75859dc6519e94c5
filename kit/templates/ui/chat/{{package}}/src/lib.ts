// {{package}}: chat between nodes with a web UI, kit's chat template (with --ui) written with
// hyperdeno's TypeScript SDK. The node API is kit's chat's (api/{{package}}:{{publisher}}-v0.wit):
//
//   {"Send": {"target": "fake2.os", "message": "hi"}}   -> "Send"
//   {"History": "fake2.os"}                             -> {"History": [{"author": .., "content": ..}]}
//
// and the UI (ui/, served at /{{package}}:{{package}}:{{publisher}}/) uses, logged in:
//   GET  /messages                    every chat: [{"node": .., "messages": [..]}]
//   POST /messages {"Send": {...}}    sends, as above
//   WebSocket /updates                {"NewMessage": {"chat": .., "author": .., "content": ..}}
import { api, hyperapp, type Infer, t } from "hyperdeno/sdk";

const Message = t.record("{{package}}-message", { author: t.string, content: t.string });
const SendRequest = t.record("send-request", { target: t.string, message: t.string });
const Response = t.variant("response", { Send: null, History: t.list(Message) });
const Chat = t.record("chat", { node: t.string, messages: t.list(Message) });

/** The same app on another node. */
const Peer = api({ send: { remote: true, args: { req: SendRequest }, returns: Response } });

const nodeOf = (address: string) => address.slice(0, address.indexOf("@"));
const processOf = (address: string) => address.slice(address.indexOf("@") + 1);

export const app = hyperapp({
  name: "Chat",
  save: "Never",
  homepage: false,
  state: () => ({ archive: {} as Record<string, Infer<typeof Message>[]> }),
  endpoints: [{ http: "/messages" }, { ws: "/updates" }],
  ui: {},
})
  .init((cx) => cx.print("begin", 1))
  .method(
    "send",
    { remote: true, local: true, http: true, args: { req: SendRequest }, returns: Response },
    (cx, { req }) => {
      const source = cx.via === "http" ? cx.node : nodeOf(cx.source);
      const toUs = req.target === cx.node;
      if (toUs) cx.print(`${source}: ${req.message}`);
      else Peer.at(`${req.target}@${processOf(cx.our)}`, { timeout: 5 }).send({ req });
      const counterparty = toUs ? source : req.target;
      const message = { author: toUs ? source : cx.node, content: req.message };
      (cx.state.archive[counterparty] ??= []).push(message);
      // every open UI hears of it
      const update = JSON.stringify({ NewMessage: { chat: counterparty, ...message } });
      for (const channel of cx.channels("/updates")) cx.push(channel, update);
      return "Send" as const;
    },
  )
  .method(
    "history",
    { remote: true, local: true, args: { node: t.string }, returns: Response },
    (cx, { node }) => ({ History: cx.state.archive[node] ?? [] }),
  )
  .method(
    "messages",
    { local: true, http: { method: "GET", path: "/messages" }, returns: t.list(Chat) },
    (cx) => Object.entries(cx.state.archive).map(([node, messages]) => ({ node, messages })),
  );

export const init = app.main;
