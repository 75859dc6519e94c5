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
  /** `~ws-port` (a direct node; required unless `routers` is given) */
  wsPort?: number;
  /** the node's Ed25519 networking public key (32 bytes, or its hex) for `~net-key` */
  netKey: Uint8Array | string;
  /** when given, also a `~tcp-port` note (fakenet writes none) */
  tcpPort?: number;
  /**
   * An indirect node: `~net-key` and `~routers` (the routers' namehashes, concatenated) instead
   * of `~ip`/`~ws-port` (fakenet mints only direct nodes).
   */
  routers?: string[];
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

/**
 * The notes fakenet writes, in its order (then `~tcp-port` if given), as [label, data]; for an
 * indirect node (`routers`), `~net-key` and `~routers`.
 */
export function fakeNodeNotes(options: Omit<FakeNodeOptions, "url" | "name">): [string, Hex][] {
  if (options.routers !== undefined) {
    if (options.routers.length === 0) throw new Error("an indirect node needs at least one router");
    return [["~net-key", netKeyHex(options.netKey)], ["~routers", routersBytes(options.routers)]];
  }
  if (options.wsPort === undefined) throw new Error("a direct fake node needs its wsPort");
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

/** `~routers` data: the routers' namehashes, concatenated. */
export function routersBytes(routers: string[]): Hex {
  return `0x${routers.map((r) => namehash(r).slice(2)).join("")}`;
}

/** Mints `<label>.os` for a fake node, or rewrites the notes of an existing one. */
export function mintOrResetFakeNode(options: FakeNodeOptions): Promise<FakeNodeResult> {
  return mintOrWriteNotes(options.url, options.name, fakeNodeNotes(options));
}

/**
 * Writes notes under `name` (a `<label>.os` the owner account minted) through its TBA, as
 * fakenet resets a node; mints the name first (with the notes) if it does not exist.
 */
export function writeNotes(
  url: string,
  name: string,
  notes: [string, Hex][],
): Promise<FakeNodeResult> {
  return mintOrWriteNotes(url, name, notes);
}

async function mintOrWriteNotes(
  url: string,
  name: string,
  notes: [string, Hex][],
): Promise<FakeNodeResult> {
  const options = { url, name };
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
  const execute = notesExecuteCalldata(notes);
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
  // several fake nodes booting at once all send from the owner account: on a nonce clash,
  // take the next nonce and send again
  const send = async (tx: { to: Address; data?: Hex; value?: bigint; gas: bigint }) => {
    for (let attempt = 1;; attempt++) {
      const nonce = await c.public.getTransactionCount({
        address: account.address,
        blockTag: "pending",
      });
      try {
        return await wallet.sendTransaction({ account, nonce, ...tx, ...fees });
      } catch (e) {
        if (attempt >= 8 || !/nonce|already known|replacement/i.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 200));
      }
    }
  };
  const txHash = await send({ to, data, gas: 1_200_000n });
  await receiptOf(c.public, txHash, `${reset ? "reset" : "mint"} ${options.name}`);
  const nudge = await send({ to: zeroAddress, value: 10n, gas: 21_000n });
  await receiptOf(c.public, nudge, "fakenet's follow-up transfer");

  const [tba] = await c.public.readContract({
    address: ADDRESSES.hypermap,
    abi: hypermapAbi,
    functionName: "get",
    args: [hash],
  });
  return { name: options.name, namehash: hash, tba, reset, txHash };
}

/** Whether `name` exists and holds exactly these notes. */
export async function hasNotes(
  url: string,
  name: string,
  notes: [string, Hex][],
): Promise<boolean> {
  const record = await readNode(url, name);
  return !!record &&
    notes.every(([label, data]) => record.notes[label]?.toLowerCase() === data.toLowerCase());
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
