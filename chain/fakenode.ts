// Fake-node identities on the local chain, as Hyperdrive's fakenet.rs (mint_local) writes them:
// a new `<label>.os` is minted by sending `mint` to the `.os` TBA, with the new TBA's
// initialization = execute(Multicall3, 0, aggregate([note ~ip, note ~ws-port, note ~net-key]), 1)
// (operation 1: delegatecall, so the notes are written by the new TBA); an existing name gets the
// same execute sent straight to its TBA. Both from anvil's first account, signed locally, then a
// 10-wei transfer to the zero address (fakenet's way to make anvil mine one more block).

import {
  type Address,
  bytesToHex,
  encodeFunctionData,
  type Hash,
  type Hex,
  hexToBytes,
  isAddressEqual,
  parseGwei,
  toHex,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ADDRESSES, OWNER_DEV_KEY } from "./addresses.ts";
import { accountAbi, hypermapAbi, multicall3Abi, namehash } from "./abi.ts";
import { clients, receiptOf } from "./client.ts";

export interface FakeNodeOptions {
  /** JSON-RPC URL of the chain */
  url: string;
  /** `<label>.os` */
  name: string;
  /** IPv4 or IPv6 address for `~ip` (default 127.0.0.1, as fakenet) */
  ip?: string;
  /** `~ws-port` */
  wsPort: number;
  /** the node's Ed25519 networking public key (32 bytes, or its hex) for `~net-key` */
  netKey: Uint8Array | string;
  /** when given, also a `~tcp-port` note (fakenet writes none) */
  tcpPort?: number;
}

export interface FakeNodeResult {
  name: string;
  namehash: Hex;
  tba: Address;
  /** true when the name existed and its notes were rewritten */
  reset: boolean;
  /** the mint (or reset) transaction */
  txHash: Hash;
}

/** The notes fakenet writes, in its order (then `~tcp-port` if given), as [label, data]. */
export function fakeNodeNotes(options: Omit<FakeNodeOptions, "url" | "name">): [string, Hex][] {
  const notes: [string, Hex][] = [
    ["~ip", bytesToHex(ipBytes(options.ip ?? "127.0.0.1"))],
    ["~ws-port", portBytes(options.wsPort)],
    ["~net-key", netKeyHex(options.netKey)],
  ];
  if (options.tcpPort !== undefined) notes.push(["~tcp-port", portBytes(options.tcpPort)]);
  return notes;
}

/** execute(Multicall3, 0, aggregate(notes), 1): the TBA call that writes a node's notes. */
export function notesExecuteCalldata(notes: [string, Hex][]): Hex {
  const calls = notes.map(([label, data]) => ({
    target: ADDRESSES.hypermap,
    callData: encodeFunctionData({
      abi: hypermapAbi,
      functionName: "note",
      args: [toHex(label), data],
    }),
  }));
  return encodeFunctionData({
    abi: accountAbi,
    functionName: "execute",
    args: [
      ADDRESSES.multicall3,
      0n,
      encodeFunctionData({ abi: multicall3Abi, functionName: "aggregate", args: [calls] }),
      1,
    ],
  });
}

/** Mints `<label>.os` for a fake node, or rewrites the notes of an existing one. */
export async function mintOrResetFakeNode(options: FakeNodeOptions): Promise<FakeNodeResult> {
  const label = fakeNodeLabel(options.name);
  const hash = namehash(options.name);
  const c = clients(options.url);
  const account = privateKeyToAccount(OWNER_DEV_KEY);
  const wallet = c.wallet(account.address);

  const [existing] = await c.public.readContract({
    address: ADDRESSES.hypermap,
    abi: hypermapAbi,
    functionName: "get",
    args: [hash],
  });
  const reset = !isAddressEqual(existing, zeroAddress);
  const execute = notesExecuteCalldata(fakeNodeNotes(options));
  const [to, data] = reset ? [existing, execute] : [
    ADDRESSES.dotOsTba,
    encodeFunctionData({
      abi: accountAbi,
      functionName: "mint",
      args: [account.address, toHex(label), execute, ADDRESSES.hyperAccount],
    }),
  ];

  // fakenet's transaction parameters
  const fees = { maxPriorityFeePerGas: parseGwei("200"), maxFeePerGas: parseGwei("300") };
  const txHash = await wallet.sendTransaction({
    account,
    to,
    data,
    nonce: await c.public.getTransactionCount({ address: account.address }),
    gas: 1_200_000n,
    ...fees,
  });
  await receiptOf(c.public, txHash, `${reset ? "reset" : "mint"} ${options.name}`);
  const nudge = await wallet.sendTransaction({
    account,
    to: zeroAddress,
    value: 10n,
    nonce: await c.public.getTransactionCount({ address: account.address }),
    gas: 21_000n,
    ...fees,
  });
  await receiptOf(c.public, nudge, "fakenet's follow-up transfer");

  const [tba] = await c.public.readContract({
    address: ADDRESSES.hypermap,
    abi: hypermapAbi,
    functionName: "get",
    args: [hash],
  });
  return { name: options.name, namehash: hash, tba, reset, txHash };
}

/** The HNS notes read back from Hypermap. */
export interface NodeRecord {
  name: string;
  namehash: Hex;
  tba: Address;
  owner: Address;
  /** every non-empty note among ~net-key, ~ip, ~ws-port, ~tcp-port, ~routers: raw bytes as hex */
  notes: Record<string, Hex>;
  netKey?: Hex;
  ip?: string;
  wsPort?: number;
  tcpPort?: number;
  /** ~routers as the 32-byte namehashes it holds */
  routers?: Hex[];
}

const NODE_NOTES = ["~net-key", "~ip", "~ws-port", "~tcp-port", "~routers"] as const;

/** Reads a node's entry and HNS notes in one Multicall3 call; null if the name is not minted. */
export async function readNode(url: string, name: string): Promise<NodeRecord | null> {
  const c = clients(url);
  const hashes = [namehash(name), ...NODE_NOTES.map((n) => namehash(`${n}.${name}`))];
  const results = await c.public.multicall({
    allowFailure: false,
    contracts: hashes.map((h) => ({
      address: ADDRESSES.hypermap,
      abi: hypermapAbi,
      functionName: "get" as const,
      args: [h] as const,
    })),
  });
  const [[tba, owner]] = results;
  if (isAddressEqual(tba, zeroAddress)) return null;
  const record: NodeRecord = { name, namehash: hashes[0], tba, owner, notes: {} };
  NODE_NOTES.forEach((label, i) => {
    const data = results[i + 1][2];
    if (data === "0x") return;
    record.notes[label] = data;
    const bytes = hexToBytes(data);
    if (label === "~net-key" && bytes.length === 32) record.netKey = data;
    if (label === "~ip" && (bytes.length === 4 || bytes.length === 16)) record.ip = ipString(bytes);
    if (label === "~ws-port" && bytes.length === 2) record.wsPort = (bytes[0] << 8) | bytes[1];
    if (label === "~tcp-port" && bytes.length === 2) record.tcpPort = (bytes[0] << 8) | bytes[1];
    if (label === "~routers" && bytes.length % 32 === 0) {
      record.routers = Array.from(
        { length: bytes.length / 32 },
        (_, k) => bytesToHex(bytes.subarray(32 * k, 32 * k + 32)),
      );
    }
  });
  return record;
}

function fakeNodeLabel(name: string): string {
  const m = /^([a-z0-9-]+)\.os$/.exec(name);
  if (!m) {
    throw new Error(`fake node names are <label>.os with a-z, 0-9 and '-' in the label: ${name}`);
  }
  return m[1];
}

function portBytes(port: number): Hex {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new Error(`not a port: ${port}`);
  return bytesToHex(new Uint8Array([port >> 8, port & 0xff]));
}

function netKeyHex(key: Uint8Array | string): Hex {
  const bytes = typeof key === "string"
    ? hexToBytes((key.startsWith("0x") ? key : `0x${key}`) as Hex)
    : key;
  if (bytes.length !== 32) throw new Error(`a networking key is 32 bytes, not ${bytes.length}`);
  return bytesToHex(bytes);
}

/** 4 bytes for IPv4, 16 for IPv6 (Hyperdrive's keygen::ip_to_bytes). */
export function ipBytes(ip: string): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.every((p) => p <= 255)) return new Uint8Array(parts);
  } else if (ip.includes(":")) {
    const [head, tail, extra] = ip.split("::");
    const groups = (s: string | undefined) => (s ? s.split(":") : []);
    const left = groups(head);
    const right = groups(tail);
    const missing = 8 - left.length - right.length;
    const all = tail === undefined ? left : [...left, ...Array(missing).fill("0"), ...right];
    if (
      extra === undefined && all.length === 8 && (tail === undefined || missing >= 1) &&
      all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))
    ) {
      return new Uint8Array(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
    }
  }
  throw new Error(`not an IPv4 or IPv6 address: ${ip}`);
}

function ipString(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16),
  );
  return groups.join(":");
}
