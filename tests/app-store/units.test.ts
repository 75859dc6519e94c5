// The app store's own codecs against the project's references: sha256 (version hashes) and
// keccak-256 (manifest and metadata hashes) against WebCrypto and viem, namehash and the
// event topics against chain/, ABI bytes decoding, metadata.json read as serde reads it.

import { encodeAbiParameters, keccak256, toEventSelector, toHex } from "viem";
import { assertEquals } from "../assert.ts";

function assertThrows(f: () => unknown, _type?: unknown, includes?: string): void {
  try {
    f();
  } catch (e) {
    if (includes && !String(e).includes(includes)) {
      throw new Error(`threw ${e}, expected it to include ${JSON.stringify(includes)}`);
    }
    return;
  }
  throw new Error("expected it to throw");
}
import { hypermapAbi, namehash as chainNamehash } from "../../chain/abi.ts";
import { deflateSync, zipSync } from "fflate";
import { makeZip, sha256Hex as webSha256 } from "./kit.ts";
import { loadPackageModule } from "../kernel/helpers.ts";

const STUB = [
  "getBlob",
  "getState",
  "our",
  "printToTerminal",
  "receive",
  "sendAndAwaitResponse",
  "sendRequest",
  "sendResponse",
  "setState",
].map((n) =>
  `export const ${n} = () => (${
    JSON.stringify(n)
  } === "our" ? { node: "x.os", process: { processName: "main", packageName: "app-store", publisherNode: "sys" } } : undefined);`
).join("\n");

const load = <T>(file: string) => loadPackageModule<T>("app-store", file, STUB);

type Main = typeof import("../../packages/app-store/pkg/app-store.ts");
type ChainMod = typeof import("../../packages/app-store/pkg/chain.ts");
type Downloads = typeof import("../../packages/app-store/pkg/downloads.ts");
type Hash = typeof import("../../packages/app-store/pkg/lib/hash.ts");
const main = await load<Main>("app-store.ts");
const chain = await load<ChainMod>("chain.ts");
const downloads = await load<Downloads>("downloads.ts");
const hash = await load<Hash>("lib/hash.ts");

Deno.test("app-store: sha256 and keccak-256 match WebCrypto and viem", async () => {
  for (const len of [0, 1, 55, 56, 63, 64, 65, 135, 136, 137, 1000, 100_003]) {
    const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 31 + 7) & 255);
    assertEquals(hash.sha256Hex(bytes), await webSha256(bytes));
    assertEquals(hash.keccak256Hex(bytes), keccak256(bytes));
    assertEquals(`0x${hash.toHex(hash.keccak256(bytes))}`, keccak256(bytes));
  }
});

Deno.test("app-store chain: namehash, topics and ABI bytes match chain/ and viem", () => {
  for (const name of ["os", "alice.os", "echo.alice.os", "~metadata-hash.echo.alice.os"]) {
    assertEquals(chain.namehash(name), chainNamehash(name));
  }
  const event = (n: string) =>
    toEventSelector(hypermapAbi.find((e) => e.type === "event" && e.name === n)!);
  assertEquals(chain.NOTE_TOPIC, event("Note"));
  assertEquals(chain.MINT_TOPIC, event("Mint"));
  assertEquals(chain.METADATA_URI_TOPIC, keccak256(toHex("~metadata-uri")));
  const data = encodeAbiParameters(
    [{ type: "bytes" }, { type: "bytes" }],
    [toHex("~metadata-uri"), toHex("https://example.com/m.json")],
  );
  const bytes = hash.fromHex(data);
  assertEquals(new TextDecoder().decode(chain.abiBytes(bytes, 0)), "~metadata-uri");
  assertEquals(new TextDecoder().decode(chain.abiBytes(bytes, 1)), "https://example.com/m.json");
  assertThrows(() => chain.abiBytes(bytes.slice(0, 70), 1));
});

Deno.test("app-store: metadata read as serde reads it, with reasons", () => {
  const good = {
    name: "X",
    description: null,
    properties: {
      package_name: "x",
      publisher: "a.os",
      current_version: "1.0.0",
      mirrors: ["b.os"],
      code_hashes: { "1.0.0": "ab" },
      wit_version: 1,
      api_includes: [],
    },
  };
  assertEquals(main.readMetadata(good).properties.code_hashes, [["1.0.0", "ab"]]);
  assertEquals(
    main.readMetadata({ ...good, properties: { ...good.properties, code_hashes: [["1", "h"]] } })
      .properties.code_hashes,
    [["1", "h"]],
  );
  assertThrows(
    () => main.readMetadata({ ...good, properties: { ...good.properties, wit_version: "1" } }),
    Error,
    "metadata.properties.wit_version: expected a u32 or null",
  );
  assertThrows(() => main.readMetadata({ ...good, name: 3 }), Error, "metadata.name");
  assertThrows(() => main.readMetadata({ properties: {} }), Error, "code_hashes");
  assertEquals(chain.readMetadata(good).properties.mirrors, ["b.os"]);
  assertThrows(() => chain.readMetadata({}), Error, "properties");
  assertEquals(main.parsePackageIdText("echo:alice.os"), "echo:alice.os");
  assertThrows(() => main.parsePackageIdText("Echo:alice.os"));
  assertThrows(() => main.parsePackageIdText("echo"));
});

Deno.test("app-store downloads: manifest.json read from a zip (stored, deflated) as fflate writes it", () => {
  const enc = new TextEncoder();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (const size of [0, 1, 100, 5000, 70_000, 300_000]) {
    // text-like data (matches, long distances) and random bytes (stored blocks)
    const words = ["process", "manifest", "capability", "vfs:distro:sys", "{", "}", "\n"];
    const text = Array.from({ length: size }, () => words[Math.floor(rnd() * words.length)]).join(
      " ",
    )
      .slice(0, size);
    const data = enc.encode(text);
    for (const level of [0, 1, 6, 9] as const) {
      assertEquals(downloads.inflateRaw(deflateSync(data, { level }), data.length), data);
    }
    const random = Uint8Array.from({ length: size }, () => Math.floor(rnd() * 256));
    assertEquals(downloads.inflateRaw(deflateSync(random), random.length), random);
  }
  const manifest = JSON.stringify([{ process_name: "p", process_wasm_path: "/p.wasm" }]);
  const zipped = zipSync({
    "a/b.txt": enc.encode("x".repeat(1000)),
    "manifest.json": enc.encode(manifest),
  });
  assertEquals(downloads.zipEntryText(zipped, "manifest.json"), manifest);
  const kit = makeZip([{ name: "ui/" }, { name: "manifest.json", data: enc.encode(manifest) }]);
  assertEquals(downloads.zipEntryText(kit, "manifest.json"), manifest);
  const stored = makeZip([{ name: "manifest.json", data: enc.encode(manifest), stored: true }]);
  assertEquals(downloads.zipEntryText(stored, "manifest.json"), manifest);
  assertThrows(() => downloads.zipEntryText(kit, "nothing.json"), Error, "no nothing.json");
  assertThrows(
    () => downloads.zipEntryText(enc.encode("not a zip"), "manifest.json"),
    Error,
    "not a zip",
  );
  const lying = makeZip([{ name: "manifest.json", data: enc.encode(manifest), declaredSize: 3 }]);
  assertThrows(() => downloads.zipEntryText(lying, "manifest.json"), Error, "inflates past");
  const corrupt = stored.slice();
  corrupt[30 + "manifest.json".length + 5] ^= 0xff;
  assertThrows(() => downloads.zipEntryText(corrupt, "manifest.json"));
});
