// Keccak-256 (Ethereum's padding), on 64-bit lanes as bigints: what hns-indexer:sys needs
// for namehash, event topics and EIP-55 addresses, shared by the indexer and its scripts
// (imported by relative path: kernel/process_host/module_graph.ts).

const enc = new TextEncoder();

const KECCAK_RC = (
  "0000000000000001 0000000000008082 800000000000808a 8000000080008000 000000000000808b " +
  "0000000080000001 8000000080008081 8000000000008009 000000000000008a 0000000000000088 " +
  "0000000080008009 000000008000000a 000000008000808b 800000000000008b 8000000000008089 " +
  "8000000000008003 8000000000008002 8000000000000080 000000000000800a 800000008000000a " +
  "8000000080008081 8000000000008080 0000000080000001 8000000080008008"
).split(" ").map((h) => BigInt(`0x${h}`));
/** rotation of lane (x, y), indexed x + 5y */
const KECCAK_ROT = "0 1 62 28 27 36 44 6 55 20 3 10 43 25 39 41 45 15 21 8 18 2 61 56 14"
  .split(" ").map(Number);
const MASK64 = (1n << 64n) - 1n;
const rotl = (v: bigint, n: number) =>
  n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK64;

function keccakF(a: bigint[]) {
  const c = new Array<bigint>(5);
  const b = new Array<bigint>(25);
  for (let round = 0; round < 24; round++) {
    for (let x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (let y = 0; y < 25; y += 5) a[x + y] ^= d;
    }
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) {
        b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], KECCAK_ROT[x + 5 * y]);
      }
    }
    for (let y = 0; y < 25; y += 5) {
      for (let x = 0; x < 5; x++) {
        a[x + y] = b[x + y] ^ (~b[((x + 1) % 5) + y] & MASK64 & b[((x + 2) % 5) + y]);
      }
    }
    a[0] ^= KECCAK_RC[round];
  }
}

/** Keccak-256 (Ethereum's, not SHA3-256's padding). */
export function keccak256(input: Uint8Array | string): Uint8Array {
  const data = typeof input === "string" ? enc.encode(input) : input;
  const rate = 136;
  const padded = new Uint8Array(Math.floor(data.length / rate) * rate + rate);
  padded.set(data);
  padded[data.length] ^= 0x01;
  padded[padded.length - 1] ^= 0x80;
  const a = new Array<bigint>(25).fill(0n);
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) {
      let lane = 0n;
      for (let k = 7; k >= 0; k--) lane = (lane << 8n) | BigInt(padded[off + 8 * i + k]);
      a[i] ^= lane;
    }
    keccakF(a);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 4; i++) {
    let lane = a[i];
    for (let k = 0; k < 8; k++) {
      out[8 * i + k] = Number(lane & 0xffn);
      lane >>= 8n;
    }
  }
  return out;
}
