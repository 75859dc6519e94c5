// The note encodings a fake node's identity uses (Hyperdrive's keygen: ip_to_bytes, the port's
// big-endian u16, the raw 32-byte key) and the calldata that writes them.

import { decodeFunctionData, type Hex, toHex } from "viem";
import { assertEquals } from "../assert.ts";
import { fakeNodeNotes, ipBytes, notesExecuteCalldata } from "../../chain/fakenode.ts";
import { accountAbi, hypermapAbi, multicall3Abi } from "../../chain/abi.ts";
import { ADDRESSES } from "../../chain/addresses.ts";

function assertThrows(f: () => unknown, msg = "expected a throw") {
  try {
    f();
  } catch {
    return;
  }
  throw new Error(msg);
}

Deno.test("chain: fake node notes are ~ip (4 or 16 bytes), ~ws-port (u16 BE), ~net-key (32 bytes)", () => {
  const key = new Uint8Array(32).fill(7);
  assertEquals(fakeNodeNotes({ wsPort: 8080, netKey: key }), [
    ["~ip", "0x7f000001"],
    ["~ws-port", "0x1f90"],
    ["~net-key", toHex(key)],
  ]);
  assertEquals(
    fakeNodeNotes({ ip: "10.0.0.255", wsPort: 1, netKey: toHex(key).slice(2), tcpPort: 65535 }),
    [
      ["~ip", "0x0a0000ff"],
      ["~ws-port", "0x0001"],
      ["~net-key", toHex(key)],
      ["~tcp-port", "0xffff"],
    ],
  );
  assertEquals(toHex(ipBytes("::1")), `0x${"00".repeat(15)}01`);
  assertEquals(toHex(ipBytes("fe80::1:2")), `0xfe80${"00".repeat(10)}00010002`);
  assertEquals(toHex(ipBytes("1:2:3:4:5:6:7:8")), "0x00010002000300040005000600070008");
  for (
    const bad of ["1.2.3", "256.0.0.1", "1::2::3", "1:2:3:4:5:6:7:8:9", "x::1", "1:2:3:4:5:6:7::8"]
  ) {
    assertThrows(() => ipBytes(bad), `accepted ${bad}`);
  }
  assertThrows(() => fakeNodeNotes({ wsPort: 65536, netKey: key }));
  assertThrows(() => fakeNodeNotes({ wsPort: 1, netKey: new Uint8Array(31) }));
});

Deno.test("chain: the notes go out as execute(Multicall3, 0, aggregate([note...]), 1)", () => {
  const notes: [string, Hex][] = [["~ip", "0x7f000001"], ["~ws-port", "0x2328"]];
  const execute = decodeFunctionData({ abi: accountAbi, data: notesExecuteCalldata(notes) });
  assertEquals(execute.functionName, "execute");
  const [to, value, data, operation] = execute.args as [Hex, bigint, Hex, number];
  assertEquals([to, value, operation], [ADDRESSES.multicall3, 0n, 1]);
  const aggregate = decodeFunctionData({ abi: multicall3Abi, data });
  assertEquals(aggregate.functionName, "aggregate");
  const calls = (aggregate.args as [{ target: Hex; callData: Hex }[]])[0];
  assertEquals(
    calls.map((c) => [c.target, decodeFunctionData({ abi: hypermapAbi, data: c.callData }).args]),
    [
      [ADDRESSES.hypermap, [toHex("~ip"), "0x7f000001"]],
      [ADDRESSES.hypermap, [toHex("~ws-port"), "0x2328"]],
    ],
  );
});
