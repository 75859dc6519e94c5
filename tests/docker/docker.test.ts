// The Docker image, built and run with podman as a user would run it: a home volume and a
// published port, login over HTTP, a package installed (mounted into the image's distro
// packages: a Wasm component and a JS process module), kit's RPC from inside the container,
// SIGTERM stopping the node cleanly, and a new container on the same volume finding the node,
// its name, keys, package and process state. Skipped only where podman is not installed
// (CI's .ci/run installs it with ../shared/docker/podman-setup.sh).

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { makePackage } from "../kernel/helpers.ts";
import { hashPassword } from "../../modules/keyfile/mod.ts";
import {
  buildImage,
  freePort,
  IMAGE_UID,
  podman,
  podmanAvailable,
  run,
  waitForHttp,
} from "./podman.ts";
import { stage } from "./stage.ts";

const IMAGE = "localhost/hyperdeno:test";
const NAME = "docker.dev";
const PASSWORD = "docker password";
const PKG = "docktest:test.os";

const available = await podmanAvailable();
if (!available) {
  console.error(
    "tests/docker: SKIPPED: podman is not installed (bash ../shared/docker/podman-setup.sh " +
      "installs it; CI's .ci/run runs that script)",
  );
}

/** kit's RPC message (kit's inject_message): a request to `process` on this node. */
function rpcMessage(process: string, body: unknown): string {
  return JSON.stringify({
    node: null,
    process,
    inherit: false,
    expects_response: 60,
    body: JSON.stringify(body),
    metadata: null,
    context: null,
    mime: null,
    data: null,
  });
}

class Container {
  readonly name = `hyperdeno-test-${crypto.randomUUID().slice(0, 8)}`;
  readonly port = freePort();
  readonly base = `http://127.0.0.1:${this.port}`;

  constructor(private readonly home: string, private readonly mounts: string[] = []) {}

  /** `podman run`; resolves when `ready` answers 200 with a body `want` accepts: ms taken. */
  async start(
    args: string[],
    ready = "/our",
    want: (body: string) => boolean = (b) => b === NAME,
  ): Promise<number> {
    const t0 = performance.now();
    await podman([
      "run",
      "-d",
      "--pull=never",
      "--name",
      this.name,
      "-p",
      `127.0.0.1:${this.port}:8080`,
      "-v",
      `${this.home}:/hyperdrive-home`,
      ...this.mounts.flatMap((m) => ["-v", m]),
      IMAGE,
      "/hyperdrive-home",
      "--expose-local",
      ...args,
    ], { timeoutMs: 60_000 });
    await waitForHttp(`${this.base}${ready}`, 90_000, want);
    return performance.now() - t0;
  }

  logs(): Promise<string> {
    return run("podman", ["logs", this.name], { timeoutMs: 30_000 }).then((o) =>
      o.stdout + o.stderr
    );
  }

  /** kit's RPC from inside the container (a loopback client): the answer's body as JSON. */
  async rpcInside(process: string, body: unknown): Promise<unknown> {
    const out = await podman([
      "exec",
      "-i",
      this.name,
      "curl",
      "-sS",
      "--max-time",
      "90",
      "-X",
      "POST",
      "-w",
      "\n%{http_code}",
      "--data-binary",
      "@-",
      "http://127.0.0.1:8080/rpc:distro:sys/message",
    ], { input: rpcMessage(process, body), timeoutMs: 100_000 });
    const nl = out.lastIndexOf("\n");
    assertEquals(out.slice(nl + 1), "200", `RPC to ${process}: ${out}`);
    const json = JSON.parse(out.slice(0, nl));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json.body)));
  }

  /** Logs in over HTTP through the published port; returns the cookie. */
  async login(): Promise<string> {
    const res = await fetch(`${this.base}/login`, {
      method: "POST",
      body: JSON.stringify({ password_hash: await hashPassword(PASSWORD, NAME), subdomain: "" }),
    });
    await res.body?.cancel();
    assertEquals(res.status, 200, "login");
    const cookie = res.headers.get("set-cookie")?.split(";")[0];
    assert(cookie && cookie.startsWith(`hyperware-auth_${NAME}=`), `login cookie: ${cookie}`);
    return cookie;
  }

  /** `podman stop` (SIGTERM): how long it took and the exit code. */
  async stop(): Promise<{ ms: number; code: number }> {
    const t0 = performance.now();
    await podman(["stop", "-t", "30", this.name], { timeoutMs: 60_000 });
    const ms = performance.now() - t0;
    const code = Number(
      (await podman(["inspect", "--format", "{{.State.ExitCode}}", this.name])).trim(),
    );
    return { ms, code };
  }

  async remove(): Promise<void> {
    await run("podman", ["rm", "-f", "-t", "5", this.name], { timeoutMs: 60_000 });
  }
}

/** The node's networking key, from the identity line it prints once booted. */
async function identityOf(c: Container): Promise<string> {
  let logs = "";
  // printed once bootNode returns, after the distro packages are installed: that trails the
  // node's first HTTP answer, by seconds on a loaded machine
  for (const t0 = Date.now(); Date.now() - t0 < 90_000;) {
    logs = await c.logs();
    const line = logs.split("\n").find((l) => l.startsWith("identity: "));
    if (line) return JSON.parse(line.slice("identity: ".length)).public_key;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no identity line in ${JSON.stringify(logs)}`);
}

Deno.test({
  name: "docker: the image runs a node on a volume; login, package, kit's RPC, SIGTERM, restart",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    // each step needs the one before it: stop at the first that fails
    const step = async (name: string, f: () => Promise<void>) => {
      if (!(await t.step(name, f))) throw new Error(`step failed: ${name}`);
    };
    const root = await Deno.makeTempDir({ prefix: "hyperdeno-docker-" });
    const containers: Container[] = [];
    try {
      await step("the image builds", async () => {
        const { seconds } = await buildImage(IMAGE);
        console.error(`tests/docker: image built in ${seconds.toFixed(1)} s`);
      });

      await step(
        "the image's /app is the staged runtime tree (what the release compiles)",
        async () => {
          const staged = `${root}/staged`;
          await stage(staged, { deno: false });
          const files = async (dir: string, prefix: string, out: string[] = []) => {
            for await (const e of Deno.readDir(dir)) {
              if (e.isDirectory) await files(`${dir}/${e.name}`, `${prefix}${e.name}/`, out);
              else out.push(`${prefix}${e.name}`);
            }
            return out;
          };
          const want = (await files(staged, "")).sort();
          await Deno.remove(staged, { recursive: true });
          const found = await podman(
            ["run", "--rm", "--pull=never", "--entrypoint", "find", IMAGE, "/app", "-type", "f"],
            { timeoutMs: 60_000 },
          );
          const got = found.split("\n").filter((l) => l && !l.startsWith("/app/.deno/"))
            .map((l) => l.slice("/app/".length)).sort();
          const missing = want.filter((f) => !got.includes(f));
          const extra = got.filter((f) => !want.includes(f));
          assertEquals({ missing: missing.slice(0, 10), extra: extra.slice(0, 10) }, {
            missing: [],
            extra: [],
          });
          assert(want.length > 1000, `${want.length} files`);
        },
      );

      // the home: a bind mount the image's user owns; the package: read-only, world-readable
      const home = `${root}/home`;
      await Deno.mkdir(home);
      await Deno.chown(home, IMAGE_UID, IMAGE_UID);
      const pkgDir = await makePackage(root, {
        name: "docktest",
        processes: [
          { name: "component", requestCapabilities: ["http-server:distro:sys"] },
          { name: "module", kind: "module", requestCapabilities: ["http-server:distro:sys"] },
        ],
      });
      await Deno.chmod(root, 0o755);
      assertEquals((await run("chmod", ["-R", "a+rX", pkgDir])).code, 0);

      const first = new Container(home, [`${pkgDir}:/app/packages/docktest:ro`]);
      containers.push(first);
      let key = "";
      await step(
        "a fresh volume: the password page on the published port, then the node",
        async () => {
          // no --password and no TTY: the password page, as Hyperdrive's, on the HTTP port
          const ms = await first.start(
            ["--fake-node-name", NAME],
            "/",
            (page) => page.includes(`Set a password for ${NAME}`),
          );
          console.error(`tests/docker: container start to the password page ${ms.toFixed(0)} ms`);
          const set = await fetch(`${first.base}/boot`, {
            method: "POST",
            body: JSON.stringify({ password_hash: await hashPassword(PASSWORD, NAME) }),
          });
          assertEquals([set.status, await set.json()], [200, "ok"]);
          await waitForHttp(`${first.base}/our`, 60_000, (b) => b === NAME);
          key = await identityOf(first);
          // PID 1 is the node, as the image's user
          const status = await podman(["exec", first.name, "cat", "/proc/1/status"]);
          assertMatch(status, new RegExp(`\\nUid:\\s+${IMAGE_UID}\\s`));
        },
      );

      await step("login over HTTP: the home page needs it and opens with it", async () => {
        const anon = await fetch(`${first.base}/`, {
          headers: { accept: "text/html" },
          redirect: "manual",
        });
        await anon.body?.cancel();
        assertEquals(anon.status, 302);
        // the login page carries hash-wasm's argon2 (read from node_modules in the image)
        const loginPage = await fetch(`${first.base}/login`);
        assertEquals(loginPage.status, 200);
        assertMatch(await loginPage.text(), /argon2/);
        const cookie = await first.login();
        const page = await fetch(`${first.base}/`, { headers: { cookie } });
        assertEquals(page.status, 200);
        assertMatch(await page.text(), /<html/i);
      });

      await step("the mounted package is installed; kit's RPC from inside reaches it", async () => {
        // a component is transpiled inside the container on first use, under the permission set
        for (const p of ["component", "module"]) {
          assertEquals(await first.rpcInside(`${p}:${PKG}`, { op: "our" }), {
            our: `${NAME}@${p}:${PKG}`,
          });
          assertEquals(
            await first.rpcInside(`${p}:${PKG}`, { op: "state-set", value: `${p} kept` }),
            {
              set: true,
            },
          );
        }
      });

      await step(
        "kit's RPC through the published port is refused (not a loopback client)",
        async () => {
          const res = await fetch(`${first.base}/rpc:distro:sys/message`, {
            method: "POST",
            body: rpcMessage(`module:${PKG}`, { op: "our" }),
          });
          await res.body?.cancel();
          assertEquals(res.status, 403);
        },
      );

      await step("SIGTERM (podman stop) shuts the node down cleanly and at once", async () => {
        const { ms, code } = await first.stop();
        assertEquals(code, 0, await first.logs());
        assert(ms < 10_000, `podman stop took ${ms.toFixed(0)} ms (a SIGKILL after its timeout?)`);
        assertMatch(await first.logs(), new RegExp(`${NAME.replace(".", "\\.")}: shutting down`));
        console.error(`tests/docker: podman stop took ${ms.toFixed(0)} ms`);
      });

      // a new container on the same volume, without the package mount or the name
      const second = new Container(home);
      containers.push(second);
      await step(
        "a new container on the volume: same node, name, key, package and state",
        async () => {
          const ms = await second.start(["--detached", "--password", PASSWORD]);
          console.error(
            `tests/docker: restart on the volume to first HTTP answer ${ms.toFixed(0)} ms`,
          );
          assertEquals(await (await fetch(`${second.base}/our`)).text(), NAME);
          assertEquals(await identityOf(second), key);
          await second.login();
          for (const p of ["component", "module"]) {
            assertEquals(await second.rpcInside(`${p}:${PKG}`, { op: "state-get" }), {
              state: `${p} kept`,
            });
          }
          assertEquals((await second.stop()).code, 0);
        },
      );
    } finally {
      for (const c of containers) await c.remove();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
