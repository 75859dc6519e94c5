// Publishing an app listing on the local chain as kit publish does: the entry
// `<package>.<publisher>` minted beneath the publisher's entry (through its TBA), with the
// notes ~metadata-hash (keccak-256 of metadata.json, "0x..." text) then ~metadata-uri (its
// URL) in one transaction; a new version rewrites both notes through the package's TBA.

import {
  encodeFunctionData,
  type Hex,
  isAddressEqual,
  keccak256,
  parseGwei,
  toHex,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ADDRESSES, OWNER_DEV_KEY } from "../../chain/addresses.ts";
import { accountAbi, hypermapAbi, namehash } from "../../chain/abi.ts";
import { clients, receiptOf } from "../../chain/client.ts";
import { notesExecuteCalldata, writeNotes } from "../../chain/fakenode.ts";

async function tbaOf(url: string, name: string): Promise<Hex> {
  const [tba] = await clients(url).public.readContract({
    address: ADDRESSES.hypermap,
    abi: hypermapAbi,
    functionName: "get",
    args: [namehash(name)],
  });
  return tba;
}

async function send(url: string, to: Hex, data: Hex, what: string): Promise<void> {
  const c = clients(url);
  const account = privateKeyToAccount(OWNER_DEV_KEY);
  const hash = await c.wallet(account.address).sendTransaction({
    account,
    to,
    data,
    gas: 2_000_000n,
    maxPriorityFeePerGas: parseGwei("2"),
    maxFeePerGas: parseGwei("300"),
  });
  await receiptOf(c.public, hash, what);
}

/** Lists (or updates) `pkg` by `publisher` with metadata served at `uri`. */
export async function publishApp(
  url: string,
  publisher: string,
  pkg: string,
  uri: string,
  metadata: Uint8Array,
): Promise<void> {
  if (isAddressEqual(await tbaOf(url, publisher), zeroAddress)) {
    await writeNotes(url, publisher, [["~publisher", toHex("yes")]]);
  }
  const notes: [string, Hex][] = [
    ["~metadata-hash", toHex(keccak256(metadata))],
    ["~metadata-uri", toHex(uri)],
  ];
  const entry = `${pkg}.${publisher}`;
  const existing = await tbaOf(url, entry);
  if (!isAddressEqual(existing, zeroAddress)) {
    await send(url, existing, notesExecuteCalldata(notes), `update ${entry}`);
    return;
  }
  const owner = privateKeyToAccount(OWNER_DEV_KEY).address;
  const mint = encodeFunctionData({
    abi: hypermapAbi,
    functionName: "mint",
    args: [owner, toHex(pkg), notesExecuteCalldata(notes), ADDRESSES.hyperAccount],
  });
  const execute = encodeFunctionData({
    abi: accountAbi,
    functionName: "execute",
    args: [ADDRESSES.hypermap, 0n, mint, 0],
  });
  await send(url, await tbaOf(url, publisher), execute, `mint ${entry}`);
}

/** Serves files from a map on loopback (metadata.json for listings). */
export function serveFiles(files: Map<string, Uint8Array>): { url: string; stop(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const body = files.get(new URL(req.url).pathname);
    return body
      ? new Response(body as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/json" },
      })
      : new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    stop: () => server.shutdown(),
  };
}
