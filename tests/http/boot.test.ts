// bootNode with HTTP and a password: the encrypted keyfile is created at first
// boot, needed after, keeps the node's identity, and http-server answers /our.

import { assert, assertEquals, assertRejects } from "../assert.ts";
import { bootNode } from "../../main.ts";
import { runCliNode } from "../kernel/helpers.ts";

async function withHome<T>(f: (home: string) => Promise<T>): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "hyperdeno-http-boot-" });
  try {
    return await f(home);
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

const quiet = { onPrint: () => {}, tcpPort: 0, wsPort: false as const };

Deno.test("boot: password creates the keyfile; wrong password refused; identity kept", async () => {
  await withHome(async (home) => {
    // first boot without a password: plain key; then the password adopts it
    const plain = await bootNode({ home, httpPort: 0, ...quiet });
    const firstKey = plain.identity.public_key;
    await plain.shutdown();
    const node = await bootNode({ home, httpPort: 0, password: "correct horse", ...quiet });
    try {
      assertEquals(node.identity.public_key, firstKey);
      assert((await Deno.stat(`${home}/.keys`)).isFile);
      assert(node.httpUrl, "http-server should listen");
      const our = await fetch(`${node.httpUrl}/our`);
      assertEquals(await our.text(), "fake.dev");
    } finally {
      await node.shutdown();
    }
    await assertRejects(
      () => bootNode({ home, httpPort: 0, password: "wrong", ...quiet }),
      (e) => /failed to decrypt/.test(String(e)),
    );
    await assertRejects(
      () => bootNode({ home, httpPort: 0, ...quiet }),
      (e) => /encrypted keyfile: boot with its password/.test(String(e)),
    );
    const again = await bootNode({ home, httpPort: 0, password: "correct horse", ...quiet });
    try {
      assertEquals(again.identity.public_key, firstKey);
    } finally {
      await again.shutdown();
    }
  });
});

Deno.test("boot: httpPort false serves no HTTP", async () => {
  await withHome(async (home) => {
    const node = await bootNode({ home, httpPort: false, ...quiet });
    try {
      assertEquals(node.httpUrl, undefined);
    } finally {
      await node.shutdown();
    }
  });
});

Deno.test("cli: a wrong password is a clear error, not a crash", async () => {
  await withHome(async (home) => {
    // first boot creates the keyfile; stop it with SIGTERM once booted
    const first = await runCliNode([home, "--detached", "--password", "right", "--port", "0"]);
    assertEquals((await first.stop()).code, 0);
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const wrong = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, home, "--detached", "--password", "wrong", "--port", "0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(wrong.code, 1);
    assert(/error: failed to decrypt/.test(new TextDecoder().decode(wrong.stderr)));
  });
});
