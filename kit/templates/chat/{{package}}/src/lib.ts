// {{package}}: chat between nodes, kit's chat template written with hyperdeno's TypeScript
// SDK. Its API is kit's chat's (api/{{package}}:{{publisher}}-v0.wit), from this node (kit's
// inject-message, the terminal's `m`) or from the same app on another node:
//
//   {"Send": {"target": "fake2.os", "message": "hi"}}   -> "Send"
//   {"History": "fake2.os"}                             -> {"History": [{"author": .., "content": ..}]}
//
// A Send to another node is passed to that node's {{package}}, which prints it; both keep it in
// their history with that node (in memory, as kit's chat).
import { api, hyperapp, type Infer, t } from "hyperdeno/sdk";

const Message = t.record("{{package}}-message", { author: t.string, content: t.string });
const SendRequest = t.record("send-request", { target: t.string, message: t.string });
const Response = t.variant("response", { Send: null, History: t.list(Message) });

/** The same app on another node. */
const Peer = api({ send: { remote: true, args: { req: SendRequest }, returns: Response } });

const nodeOf = (address: string) => address.slice(0, address.indexOf("@"));
const processOf = (address: string) => address.slice(address.indexOf("@") + 1);

export const app = hyperapp({
  name: "Chat",
  save: "Never",
  homepage: false,
  state: () => ({ archive: {} as Record<string, Infer<typeof Message>[]> }),
})
  .init((cx) => cx.print("begin", 1))
  .method(
    "send",
    { remote: true, local: true, args: { req: SendRequest }, returns: Response },
    (cx, { req }) => {
      const source = nodeOf(cx.source);
      const toUs = req.target === cx.node;
      if (toUs) cx.print(`${source}: ${req.message}`);
      else Peer.at(`${req.target}@${processOf(cx.our)}`, { timeout: 5 }).send({ req });
      // the counterparty: the other node in the chat
      const counterparty = toUs ? source : req.target;
      (cx.state.archive[counterparty] ??= []).push({
        author: toUs ? source : cx.node,
        content: req.message,
      });
      return "Send" as const;
    },
  )
  .method(
    "history",
    { remote: true, local: true, args: { node: t.string }, returns: Response },
    (cx, { node }) => ({ History: cx.state.archive[node] ?? [] }),
  );

export const init = app.main;
