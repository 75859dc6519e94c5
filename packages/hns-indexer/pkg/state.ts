// state (a script of hns-indexer:sys): prints the chain, Hypermap's address (EIP-55) and every
// name hns-indexer knows (IndexerRequest::GetState), as Hyperdrive's state script does.
import {
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendResponse,
} from "hyperware:process/standard@1.0.0";

const HNS = {
  node: "our",
  process: { processName: "hns-indexer", packageName: "hns-indexer", publisherNode: "sys" },
};

// Keccak-256, for the address checksum
const RC = (
  "0000000000000001 0000000000008082 800000000000808a 8000000080008000 000000000000808b " +
  "0000000080000001 8000000080008081 8000000000008009 000000000000008a 0000000000000088 " +
  "0000000080008009 000000008000000a 000000008000808b 800000000000008b 8000000000008089 " +
  "8000000000008003 8000000000008002 8000000000000080 000000000000800a 800000008000000a " +
  "8000000080008081 8000000000008080 0000000080000001 8000000080008008"
).split(" ").map((h) => BigInt(`0x${h}`));
const ROT = "0 1 62 28 27 36 44 6 55 20 3 10 43 25 39 41 45 15 21 8 18 2 61 56 14"
  .split(" ").map(Number);
const M = (1n << 64n) - 1n;
const rotl = (v: bigint, n: number) => n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & M;

function keccak256(data: Uint8Array): Uint8Array {
  const rate = 136;
  const p = new Uint8Array(Math.floor(data.length / rate) * rate + rate);
  p.set(data);
  p[data.length] ^= 1;
  p[p.length - 1] ^= 0x80;
  const a = new Array<bigint>(25).fill(0n);
  const c = new Array<bigint>(5);
  const b = new Array<bigint>(25);
  for (let off = 0; off < p.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n;
      for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(p[off + 8 * i + k]);
      a[i] ^= lane;
    }
    for (let r = 0; r < 24; r++) {
      for (let x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
      for (let x = 0; x < 5; x++) {
        const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (let y = 0; y < 25; y += 5) a[x + y] ^= d;
      }
      for (let x = 0; x < 5; x++) {
        for (let y = 0; y < 5; y++) {
          b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], ROT[x + 5 * y]);
        }
      }
      for (let y = 0; y < 25; y += 5) {
        for (let x = 0; x < 5; x++) {
          a[x + y] = b[x + y] ^ (~b[((x + 1) % 5) + y] & M & b[((x + 2) % 5) + y]);
        }
      }
      a[0] ^= RC[r];
    }
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((a[i >> 3] >> BigInt(8 * (i & 7))) & 0xffn);
  return out;
}

/** 20 bytes as an EIP-55 checksummed address (as alloy's Address displays). */
export function checksumAddress(bytes: number[]): string {
  const hex = bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
  const hash = keccak256(new TextEncoder().encode(hex));
  let out = "0x";
  for (let i = 0; i < hex.length; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
  }
  return out;
}

function state(): string {
  let v;
  try {
    const [, message] = sendAndAwaitResponse(HNS, {
      inherit: false,
      expectsResponse: 10n,
      body: new TextEncoder().encode(JSON.stringify({ GetState: { block: 0 } })),
      metadata: undefined,
      capabilities: [],
    }, undefined);
    if (message.tag !== "response") return "failed to get state from hns-indexer";
    v = JSON.parse(new TextDecoder().decode(message.val[0].body));
  } catch {
    return "failed to get state from hns-indexer";
  }
  const s = v?.GetState;
  if (!s || !Array.isArray(s.names) || !Array.isArray(s.contract_address)) {
    return "failed to deserialize state";
  }
  if (s.contract_address.length !== 20) return "invalid contract addess: doesn't have 20 bytes";
  const names = (s.names as [string, string][]).map(([, name]) => name).sort();
  return `\nrunning on chain id ${s.chain_id}\nCA: ${
    checksumAddress(s.contract_address)
  }\n${names.length} known nodes as of block ${s.last_block}\n     ${names.join("\n     ")}`;
}

export function init(_our: string): void {
  let req;
  try {
    const [, message] = receive();
    if (message.tag !== "request") return;
    req = message.val;
  } catch {
    return;
  }
  const out = state();
  if (req.expectsResponse !== undefined) {
    sendResponse({
      inherit: false,
      body: new TextEncoder().encode(out),
      metadata: undefined,
      capabilities: [],
    }, undefined);
  } else {
    printToTerminal(0, out);
  }
}
