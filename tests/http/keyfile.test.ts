// The keyfile: Hyperdrive's on-disk layout, AES-256-GCM under PBKDF2 of the
// argon2id password hash, the browser-compatible password hash, and the boot
// helper that creates the keyfile once and decrypts it afterwards.

import { argon2id } from "@noble/hashes/argon2.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  decodeKeyfile,
  ed25519FromPkcs8,
  encodeKeyfile,
  generateKeyfile,
  hashPassword,
  keyfileIdentity,
  loadOrCreateKeyfile,
  passwordSalt,
  pkcs8FromEd25519Seed,
} from "../../modules/keyfile/mod.ts";

Deno.test("keyfile: password hash is argon2id(t=2, m=19456, p=1, 32 bytes) salted by the node name", async () => {
  assertEquals(passwordSalt("abc"), "abcabcabc");
  assertEquals(passwordSalt("abcd"), "abcdabcdabcd");
  assertEquals(passwordSalt("fake.dev"), "fake.dev");
  const ours = await hashPassword("hunter22", "abc");
  // an independent implementation of the same parameters
  const noble = argon2id(
    new TextEncoder().encode("hunter22"),
    new TextEncoder().encode("abcabcabc"),
    {
      t: 2,
      m: 19456,
      p: 1,
      dkLen: 32,
    },
  );
  assertEquals(ours, `0x${noble.toHex()}`);
});

Deno.test("keyfile: layout, round trip, and Hyperdrive's error for a wrong password", async () => {
  const kf = generateKeyfile("fake.dev", ["router-a.os"]);
  const hash = await hashPassword("hunter22", "fake.dev");
  const bytes = await encodeKeyfile(kf, hash);
  const tuple = JSON.parse(new TextDecoder().decode(bytes));
  assertEquals(tuple.length, 6);
  assertEquals(tuple[0], "fake.dev");
  assertEquals(tuple[1], ["router-a.os"]);
  assertEquals(tuple[2].length, 32); // salt
  assertEquals(tuple[3].length, 12 + 85 + 16); // nonce || PKCS#8 v2 || tag
  assertEquals(tuple[4].length, 12 + 32 + 16);
  assertEquals(tuple[5].length, 12 + 32 + 16);
  assertEquals(keyfileIdentity(bytes), { username: "fake.dev", routers: ["router-a.os"] });

  const back = await decodeKeyfile(bytes, hash);
  assertEquals(back, kf);
  await assertRejects(
    () => decodeKeyfile(bytes, "0xdeadbeef"),
    "failed to decrypt networking keys",
  );
  await assertRejects(
    () => decodeKeyfile(new TextEncoder().encode("[1,2]"), hash),
    "failed to deserialize keyfile",
  );
  // a flipped ciphertext bit is caught by the tag
  tuple[4][20] ^= 1;
  await assertRejects(
    () => decodeKeyfile(new TextEncoder().encode(JSON.stringify(tuple)), hash),
    "failed to decrypt jwt secret",
  );
});

Deno.test("keyfile: networking key is ring's PKCS#8 v2 Ed25519 document", () => {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const doc = pkcs8FromEd25519Seed(seed);
  assertEquals(doc.length, 85);
  assertEquals(doc.subarray(0, 16).toHex(), "3053020101300506032b657004220420");
  assertEquals(doc.subarray(48, 53).toHex(), "a123032100");
  const { seed: s2, publicKey } = ed25519FromPkcs8(doc);
  assertEquals(s2, seed);
  assertEquals(publicKey, ed25519.getPublicKey(seed));
  const bad = doc.slice();
  bad[84] ^= 1; // public key not matching the seed
  let threw = false;
  try {
    ed25519FromPkcs8(bad);
  } catch (e) {
    threw = (e as Error).message === "failed to parse networking keys";
  }
  assert(threw);
});

Deno.test("keyfile: PKCS#8 bytes for RFC 8032's first test key, and the v1 form", () => {
  const seed = Uint8Array.fromHex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  );
  const pub = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const doc = pkcs8FromEd25519Seed(seed);
  assertEquals(
    doc.toHex(),
    `3053020101300506032b657004220420${seed.toHex()}a123032100${pub}`,
  );
  // PKCS#8 v1 (no public key), as older keyfiles may hold
  const v1 = Uint8Array.fromHex(`302e020100300506032b657004220420${seed.toHex()}`);
  const fromV1 = ed25519FromPkcs8(v1);
  assertEquals([fromV1.seed.toHex(), fromV1.publicKey.toHex()], [seed.toHex(), pub]);
  // anything else (a truncated document, a wrong prefix) is refused
  for (const bad of [doc.subarray(0, 84), v1.subarray(0, 47), Uint8Array.from([0x30, ...v1])]) {
    let message = "";
    try {
      ed25519FromPkcs8(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message, "failed to parse networking keys");
  }
});

Deno.test("keyfile: older bincode keyfiles decode too", async () => {
  const kf = generateKeyfile("old.os", ["r1.os", "r2.os"]);
  const hash = await hashPassword("pw123456", "old.os");
  const tuple = JSON.parse(new TextDecoder().decode(await encodeKeyfile(kf, hash)));
  // bincode 1: u64 little-endian lengths before strings, sequences and byte vectors
  const parts: number[] = [];
  const u64 = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    parts.push(...b);
  };
  const bytes = (b: number[]) => {
    u64(b.length);
    parts.push(...b);
  };
  const str = (s: string) => bytes(Array.from(new TextEncoder().encode(s)));
  str(tuple[0]);
  u64(tuple[1].length);
  tuple[1].forEach(str);
  for (const b of tuple.slice(2)) bytes(b);
  const bin = Uint8Array.from(parts);
  assertEquals(keyfileIdentity(bin), { username: "old.os", routers: ["r1.os", "r2.os"] });
  assertEquals(await decodeKeyfile(bin, hash), kf);
});

Deno.test("keyfile: loadOrCreateKeyfile creates once, then needs the same password", async () => {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-keyfile-" });
  try {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const first = await loadOrCreateKeyfile({
      home,
      our: "fake.dev",
      password: "pw123456",
      networkingKeySeed: seed,
    });
    assert(first.created);
    assertEquals(ed25519FromPkcs8(first.keyfile.networkingKeyPkcs8).seed, seed);
    assertEquals(await Deno.readFile(`${home}/.keys`), first.encoded);
    const again = await loadOrCreateKeyfile({ home, password: "pw123456" });
    assert(!again.created);
    assertEquals(again.keyfile, first.keyfile);
    await assertRejects(
      () => loadOrCreateKeyfile({ home, password: "wrong-password" }),
      "failed to decrypt",
    );
    await assertRejects(
      () => loadOrCreateKeyfile({ home, our: "someone.else", password: "pw123456" }),
      "keyfile belongs to fake.dev",
    );
    const empty = await Deno.makeTempDir({ prefix: "hyperdeno-keyfile-" });
    try {
      await assertRejects(
        () => loadOrCreateKeyfile({ home: empty, password: "x" }),
        "no keyfile found",
      );
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
