// Networking key persistence and --fake-pki parsing.

import { loadOrCreateNetworkingKey, NETWORKING_KEY_FILE, readPkiFile } from "../../net/boot.ts";
import { createNetModule } from "../../net/mod.ts";
import { assert, assertEq, bytesEqual } from "./helpers.ts";

Deno.test("boot: the networking key is generated once and kept in home", async () => {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-net-" });
  try {
    const first = await loadOrCreateNetworkingKey(`${home}/node`);
    const again = await loadOrCreateNetworkingKey(`${home}/node`);
    assertEq(first.length, 32, "32-byte seed");
    assert(bytesEqual(first, again), "same key on the next boot");
    const stat = await Deno.stat(`${home}/node/${NETWORKING_KEY_FILE}`);
    assertEq((stat.mode ?? 0) & 0o777, 0o600, "owner-only file");
    const other = await loadOrCreateNetworkingKey(`${home}/other`);
    assert(!bytesEqual(first, other), "each home gets its own key");
    await Deno.mkdir(`${home}/bad-home`);
    await Deno.writeFile(`${home}/bad-home/${NETWORKING_KEY_FILE}`, new Uint8Array(5));
    let refused = false;
    try {
      await loadOrCreateNetworkingKey(`${home}/bad-home`);
    } catch {
      refused = true;
    }
    assert(refused, "a damaged key file is an error, not silently replaced");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("boot: a --fake-pki file holds HnsUpdate records, checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyperdeno-pki-" });
  const node = createNetModule({
    our: "fake.os",
    networkingKey: new Uint8Array(32).fill(3),
    tcpPort: 0,
    wsPort: false,
  });
  try {
    const good = [node.identity, {
      name: "hidden.os",
      // "0x" is optional and either case is hex, as Hyperdrive's hex::decode reads it
      public_key: node.identity.public_key.slice(2).toUpperCase(),
      ips: [],
      ports: {},
      routers: ["fake.os"],
    }];
    await Deno.writeTextFile(`${dir}/pki.json`, JSON.stringify(good));
    const read = await readPkiFile(`${dir}/pki.json`);
    assertEq(JSON.stringify(read), JSON.stringify(good), "records read back as written");

    const bad: [unknown, string][] = [
      [{ a: 1 }, "JSON array"],
      [[{ ...good[0], public_key: "0x12" }], "public_key must be 32 bytes of hex, found 1 bytes"],
      [[{ ...good[0], public_key: "0x" + "zz".repeat(32) }], "public_key: networking key"],
      [[{ ...good[0], public_key: "0X" + "00".repeat(32) }], "is not hex"],
      [[{ ...good[0], public_key: 12 }], "public_key must be 32 bytes of hex"],
      [[{ ...good[0], ports: { tcp: 70000 } }], "port tcp"],
      [[{ ...good[0], ips: [], routers: [] }], "ips (direct) or routers"],
    ];
    for (const [content, expected] of bad) {
      await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(content));
      let message = "";
      try {
        await readPkiFile(`${dir}/bad.json`);
      } catch (e) {
        message = (e as Error).message;
      }
      assert(message.includes(expected), `rejected with "${expected}": got "${message}"`);
    }
  } finally {
    await node.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
