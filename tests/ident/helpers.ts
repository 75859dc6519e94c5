// Existing nodes on the local chain: a keyfile in Hyperdrive's format (hyperdeno's keyfile code,
// the layout tests/http/keyfile.test.ts pins) for a name minted with its key, CLI nodes, and a
// snapshot of a home to show a refused boot left it as it was.

import { bytesToHex, type Hex } from "viem";
import { ipBytes, writeNotes } from "../../chain/fakenode.ts";
import { routersBytes } from "../../chain/mod.ts";
import {
  ed25519FromPkcs8,
  encodeKeyfile,
  generateKeyfile,
  hashPassword,
  KEYFILE_NAME,
} from "../../modules/keyfile/mod.ts";

import { type CliProcess, freePort, spawnCli } from "../hns/helpers.ts";

export {
  type CliProcess,
  eventually,
  freePort,
  spawnCli,
  withChain,
  withTempDir,
} from "../hns/helpers.ts";

export const PASSWORD = "existing node password";

/** A keyfile made as Hyperdrive makes one: its bytes, and the node's public key. */
export interface MadeKeyfile {
  bytes: Uint8Array;
  publicKey: Uint8Array;
  /** "0x" + hex, as HnsUpdate and Hyperdrive's Identity spell it */
  publicKeyHex: string;
}

/** A new keyfile for `name` (fresh networking key), encrypted under `password`. */
export async function makeKeyfile(
  name: string,
  routers: string[] = [],
  password = PASSWORD,
): Promise<MadeKeyfile> {
  const kf = generateKeyfile(name, routers);
  const bytes = await encodeKeyfile(kf, await hashPassword(password, name));
  const { publicKey } = ed25519FromPkcs8(kf.networkingKeyPkcs8);
  return { bytes, publicKey, publicKeyHex: bytesToHex(publicKey) };
}

/** A home holding only a keyfile, as a Hyperdrive home copied in would. */
export async function homeWithKeyfile(home: string, kf: MadeKeyfile): Promise<void> {
  await Deno.mkdir(home, { recursive: true });
  await Deno.writeFile(`${home}/${KEYFILE_NAME}`, kf.bytes, { mode: 0o600 });
}

function portHex(port: number): Hex {
  return bytesToHex(new Uint8Array([port >> 8, port & 0xff]));
}

/**
 * Mints `name` (or rewrites its notes) with a direct node's notes: `~ip`, `~net-key` and
 * whichever of `~ws-port` / `~tcp-port` are given.
 */
export function mintDirect(
  url: string,
  name: string,
  key: Uint8Array,
  ports: { ws?: number; tcp?: number },
  ip = "127.0.0.1",
) {
  const notes: [string, Hex][] = [["~ip", bytesToHex(ipBytes(ip))]];
  if (ports.ws !== undefined) notes.push(["~ws-port", portHex(ports.ws)]);
  if (ports.tcp !== undefined) notes.push(["~tcp-port", portHex(ports.tcp)]);
  notes.push(["~net-key", bytesToHex(key)]);
  return writeNotes(url, name, notes);
}

/** Mints `name` as an indirect node: `~net-key` and `~routers`. */
export function mintIndirect(url: string, name: string, key: Uint8Array, routers: string[]) {
  return writeNotes(url, name, [["~net-key", bytesToHex(key)], [
    "~routers",
    routersBytes(routers),
  ]]);
}

/** Every file under `home` with its bytes' SHA-256 (directories by name). */
export async function snapshot(home: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      const key = `${rel}${e.name}`;
      if (e.isDirectory) {
        out[`${key}/`] = "dir";
        await walk(path, `${key}/`);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
        out[key] = new Uint8Array(digest).toHex();
      }
    }
  };
  await walk(home, "");
  return out;
}

/** The value of the first stdout line starting with `prefix`. */
export function line(stdout: string, prefix: string): string {
  const l = stdout.split("\n").find((s) => s.startsWith(prefix));
  if (!l) throw new Error(`no "${prefix}" line in ${JSON.stringify(stdout)}`);
  return l.slice(prefix.length).trim();
}

/** kit's /rpc:distro:sys/message: the node sends `body` to `node@process`; the answer's text. */
export async function rpcHello(base: string, node: string, body: string) {
  const res = await fetch(`${base}/rpc:distro:sys/message`, {
    method: "POST",
    headers: { "x-hyperware-http-server-timeout": "5" },
    signal: AbortSignal.timeout(15_000),
    body: JSON.stringify({
      node,
      process: "hello:hello:sys",
      inherit: false,
      expects_response: 5,
      body,
      metadata: null,
      context: null,
      mime: null,
      data: null,
    }),
  }).catch(() => undefined);
  if (!res) return undefined;
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  return new TextDecoder().decode(Uint8Array.from((await res.json()).body));
}

/** Whether something accepts TCP connections at hostname:port. */
export async function accepts(hostname: string, port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname, port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts a CLI node and waits until it serves HTTP (stopped if it does not). */
export async function startCli(args: string[], ms = 90_000): Promise<CliProcess> {
  const p = spawnCli([...args, "--port", "0", "--expose-local", "--detached"]);
  try {
    await p.waitFor(/\nhttp: \S+\n/, ms);
  } catch (e) {
    await p.stop();
    throw e;
  }
  return p;
}

/** A kit-style fake node (`--fake-node-name`), minted by itself on the chain at `chainPort`. */
export function fakeCliNode(home: string, name: string, chainPort: number, extra: string[] = []) {
  return startCli([
    home,
    "--fake-node-name",
    name,
    "--fakechain-port",
    `${chainPort}`,
    "--ws-port",
    `${freePort()}`,
    ...extra,
  ]);
}

/** An existing node's CLI boot: its keyfile is in `home`, checked on the chain at `chainPort`. */
export function existingCliNode(home: string, chainPort: number, extra: string[] = []) {
  return startCli([home, "--password", PASSWORD, "--fakechain-port", `${chainPort}`, ...extra]);
}

/** Runs the CLI to its end (a refused boot); its exit code and output. */
export async function runCli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
