// wire/eth.ts and the provider bookkeeping, without a node: serde's shapes both ways.

import { assertEquals, assertRejects } from "../assert.ts";
import {
  encodeEth,
  ethActionToJson,
  EthFailure,
  parseEthResponse,
  parseIncomingReq,
  parseNodeOrRpcUrl,
  providerConfigToJson,
  serdeValue,
} from "../../wire/eth.ts";
import { logsBlockRange, MethodFailures, ProviderTable } from "../../modules/eth/providers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const parse = (s: string) => parseIncomingReq(enc.encode(s));
const text = (v: unknown) => dec.decode(encodeEth(v));

Deno.test("eth wire: IncomingReq variants in Hyperdrive's order", () => {
  assertEquals(parse('{"Request":{"chain_id":8453,"method":"eth_call","params":[1,{"b":2}]}}'), {
    tag: "EthAction",
    action: { tag: "Request", chainId: 8453n, method: "eth_call", params: [1, { b: 2 }] },
  });
  // u64s past 2^53 survive
  assertEquals(
    parse(
      '{"SubscribeLogs":{"sub_id":18446744073709551615,"chain_id":1,"kind":"logs","params":{}}}',
    ),
    {
      tag: "EthAction",
      action: {
        tag: "SubscribeLogs",
        subId: 18446744073709551615n,
        chainId: 1n,
        kind: "logs",
        params: {},
      },
    },
  );
  assertEquals(parse('{"UnsubscribeLogs":4}'), {
    tag: "EthAction",
    action: { tag: "UnsubscribeLogs", subId: 4n },
  });
  // unknown fields are ignored, as serde does without deny_unknown_fields
  assertEquals(
    parse('{"Request":{"chain_id":1,"method":"m","params":null,"extra":true}}').tag,
    "EthAction",
  );
  assertEquals(parse('"GetState"'), { tag: "EthConfigAction", action: { tag: "GetState" } });
  assertEquals(parse('{"RemoveProvider":[1,"wss://x"]}'), {
    tag: "EthConfigAction",
    action: { tag: "RemoveProvider", chainId: 1n, provider: "wss://x" },
  });
  assertEquals(parse('{"Ok":{"id":3,"result":{"x":1}}}'), {
    tag: "EthSubResult",
    result: { Ok: { id: 3n, result: { x: 1 } } },
  });
  assertEquals(parse('{"Err":{"id":3,"error":"gone"}}'), {
    tag: "EthSubResult",
    result: { Err: { id: 3n, error: "gone" } },
  });
  assertEquals(parse("12345678901234567890"), {
    tag: "SubKeepalive",
    subId: 12345678901234567890n,
  });
  for (
    const bad of [
      "",
      "nope",
      "{}",
      '{"Request":{"chain_id":-1,"method":"m","params":[]}}',
      '{"Request":{"chain_id":1,"method":"m"}}',
      '{"SubscribeLogs":{"sub_id":1,"chain_id":1,"kind":"Logs","params":{}}}',
      '{"Ok":{"id":1}}',
      '"SetPublic2"',
      '{"SetPublic":1}',
      '{"Request":{},"UnsubscribeLogs":1}',
      "1.5",
    ]
  ) {
    let got: unknown;
    try {
      got = parse(bad);
    } catch (e) {
      got = e instanceof EthFailure ? e.error : e;
    }
    assertEquals(got, "MalformedRequest", bad);
  }
});

Deno.test("eth wire: answers and pushes, byte for byte", () => {
  assertEquals(text("Ok"), '"Ok"');
  assertEquals(text({ Response: "0x1" }), '{"Response":"0x1"}');
  assertEquals(text({ Err: "NoRpcForChain" }), '{"Err":"NoRpcForChain"}');
  assertEquals(text({ Err: { InvalidMethod: "x" } }), '{"Err":{"InvalidMethod":"x"}}');
  assertEquals(
    text({ Err: { SubscriptionClosed: 2n ** 64n - 1n } }),
    '{"Err":{"SubscriptionClosed":18446744073709551615}}',
  );
  assertEquals(
    text({ Err: { RpcError: serdeValue({ message: "m", code: -32000, data: "0x" }) } }),
    '{"Err":{"RpcError":{"code":-32000,"data":"0x","message":"m"}}}',
  );
  assertEquals(
    text({ Ok: { id: 9n, result: serdeValue({ z: 1, a: { y: 2, b: [{ d: 1, c: 2 }] } }) } }),
    '{"Ok":{"id":9,"result":{"a":{"b":[{"c":2,"d":1}],"y":2},"z":1}}}',
  );
  assertEquals(text({ Err: { id: 1n, error: "e" } }), '{"Err":{"id":1,"error":"e"}}');
  assertEquals(
    text(ethActionToJson({ tag: "Request", chainId: 1n, method: "m", params: { b: 1, a: 2 } })),
    '{"Request":{"chain_id":1,"method":"m","params":{"a":2,"b":1}}}',
  );
  assertEquals(
    text(
      ethActionToJson({ tag: "SubscribeLogs", subId: 5n, chainId: 1n, kind: "logs", params: {} }),
    ),
    '{"SubscribeLogs":{"sub_id":5,"chain_id":1,"kind":"logs","params":{}}}',
  );
  assertEquals(
    text(ethActionToJson({ tag: "UnsubscribeLogs", subId: 5n })),
    '{"UnsubscribeLogs":5}',
  );
  // a node provider's answers
  assertEquals(parseEthResponse(enc.encode('"Ok"')), "Ok");
  assertEquals(parseEthResponse(enc.encode('{"Err":"RateLimited"}')), { Err: "RateLimited" });
  assertEquals(parseEthResponse(enc.encode('{"Err":{"RpcError":{"code":1}}}')), {
    Err: { RpcError: { code: 1 } },
  });
});

Deno.test("eth wire: ProviderConfig forms", async () => {
  assertEquals(parseNodeOrRpcUrl({ RpcUrl: "wss://a" }), { RpcUrl: { url: "wss://a" } });
  assertEquals(parseNodeOrRpcUrl({ RpcUrl: { url: "wss://a", auth: null } }), {
    RpcUrl: { url: "wss://a" },
  });
  assertEquals(parseNodeOrRpcUrl({ RpcUrl: { url: "wss://a", auth: { Raw: "r" } } }), {
    RpcUrl: { url: "wss://a", auth: { Raw: "r" } },
  });
  await assertRejects(() =>
    Promise.resolve().then(() => parseNodeOrRpcUrl({ RpcUrl: { url: "a", auth: { Digest: "x" } } }))
  );
  // HnsUpdate needs every field
  await assertRejects(() =>
    Promise.resolve().then(() =>
      parseNodeOrRpcUrl({
        Node: {
          hns_update: { name: "a", public_key: "0x", ips: [], ports: {} },
          use_as_provider: true,
        },
      })
    )
  );
  assertEquals(
    text(providerConfigToJson({ chain_id: 1n, trusted: true, provider: { RpcUrl: { url: "u" } } })),
    '{"chain_id":1,"trusted":true,"provider":{"RpcUrl":{"url":"u"}}}',
  );
});

Deno.test("eth providers: method failures, block ranges, table order", () => {
  assertEquals(logsBlockRange([{ fromBlock: "0x10", toBlock: "0x20" }]), 16n);
  assertEquals(logsBlockRange([{ fromBlock: "earliest", toBlock: "latest" }]), 2n ** 64n - 1n);
  assertEquals(logsBlockRange([{ fromBlock: 5, toBlock: 3 }]), 0n);
  assertEquals(logsBlockRange([{ fromBlock: "safe", toBlock: "0x1" }]), undefined);
  assertEquals(logsBlockRange({}), undefined);

  const f = new MethodFailures();
  const hour = 3_600_000;
  f.markFailed("eth_call", [], 0);
  f.markFailed("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x100" }], 0);
  f.markFailed("eth_sendRawTransaction", [], 1000);
  assertEquals(f.shouldSkip("eth_call", [], 0, hour), true);
  assertEquals(f.shouldSkip("eth_chainId", [], 0, hour), false);
  // getLogs: ranges at or above the failed one are skipped, smaller ones tried
  assertEquals(
    f.shouldSkip("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x100" }], 0, hour),
    true,
  );
  assertEquals(
    f.shouldSkip("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x10" }], 0, hour),
    false,
  );
  // sendRawTransaction: for an hour
  assertEquals(f.shouldSkip("eth_sendRawTransaction", [], 1000 + hour - 1, hour), true);
  assertEquals(f.shouldSkip("eth_sendRawTransaction", [], 1000 + hour, hour), false);
  f.clear("eth_call");
  assertEquals(f.shouldSkip("eth_call", [], 0, hour), false);

  const url = (chain: number, u: string) => ({
    chain_id: BigInt(chain),
    trusted: true,
    provider: { RpcUrl: { url: u } },
  });
  const t = ProviderTable.from([url(2, "a"), url(1, "b"), url(2, "c")]);
  assertEquals(t.get(2n)!.urls.map((u) => u.url), ["a", "c"]);
  assertEquals(t.toSavedConfigs().map((c) => ("RpcUrl" in c.provider) && c.provider.RpcUrl.url), [
    "a",
    "c",
    "b",
  ]);
  t.add(url(2, "c"));
  assertEquals(t.get(2n)!.urls.map((u) => u.url), ["c", "a"]);
  assertEquals(t.remove(2n, "a", () => {}), true);
  assertEquals(t.remove(2n, "a", () => {}), false);
  assertEquals(t.remove(3n, "a", () => {}), false);
});
