// A real anvil (npm @foundry-rs/anvil's platform binary) on a loopback port, for the eth
// tests and bench: start, kill, restart on the same port. Also the test contract and the
// viem clients the tests use against it directly.

import {
  type Address as EvmAddress,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { defineChain } from "viem";

const PLATFORM: Record<string, string> = {
  "linux-x86_64": "linux-amd64",
  "linux-aarch64": "linux-arm64",
  "darwin-x86_64": "darwin-amd64",
  "darwin-aarch64": "darwin-arm64",
  "windows-x86_64": "win32-amd64",
};

export function anvilBinary(): string {
  const p = PLATFORM[`${Deno.build.os}-${Deno.build.arch}`];
  if (!p) throw new Error(`no anvil binary for ${Deno.build.os}-${Deno.build.arch}`);
  const exe = Deno.build.os === "windows" ? "anvil.exe" : "anvil";
  return new URL(`../../node_modules/@foundry-rs/anvil-${p}/bin/${exe}`, import.meta.url).pathname;
}

/** anvil's first dev account (its well-known mnemonic). */
export const DEV_KEY: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
export const DEV_ACCOUNT = privateKeyToAccount(DEV_KEY);
export const CHAIN_ID = 31337;

/** A free loopback TCP port. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export class Anvil {
  #child: Deno.ChildProcess | undefined;
  #out: Promise<void> | undefined;
  constructor(readonly port: number) {}

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  static async start(port = freePort()): Promise<Anvil> {
    const a = new Anvil(port);
    await a.restart();
    return a;
  }

  /** Starts anvil (again) on the same port: a fresh chain. */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("anvil is running");
    this.#child = new Deno.Command(anvilBinary(), {
      args: ["--port", `${this.port}`, "--host", "127.0.0.1", "--silent"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // drain the pipes so anvil never blocks on them
    this.#out = Promise.all([
      this.#child.stdout.pipeTo(new WritableStream()),
      this.#child.stderr.pipeTo(new WritableStream()),
    ]).then(() => {}, () => {});
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      try {
        const r = await fetch(this.http, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
        });
        await r.body?.cancel();
        if (r.ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`anvil did not start on port ${this.port}`);
  }

  /** SIGKILL: connections drop at once, nothing is saved. */
  async kill(): Promise<void> {
    const c = this.#child;
    if (!c) return;
    this.#child = undefined;
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
    await c.status;
    await this.#out;
  }

  stop(): Promise<void> {
    return this.kill();
  }

  /** SIGKILL without waiting (for an unload handler). */
  killNow(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* gone */ }
  }
}

export function anvilChain(a: Anvil) {
  return defineChain({
    id: CHAIN_ID,
    name: "anvil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [a.http], webSocket: [a.ws] } },
  });
}

export function publicClient(a: Anvil): PublicClient {
  return createPublicClient({ chain: anvilChain(a), transport: http(a.http) });
}

export function walletClient(a: Anvil): WalletClient {
  return createWalletClient({
    account: DEV_ACCOUNT,
    chain: anvilChain(a),
    transport: http(a.http),
  });
}

/** The topic every call to the echo contract logs. */
export const ECHO_TOPIC: Hex = `0x${"e7".repeat(32)}`;

/**
 * A tiny contract, hand-assembled: any call logs its calldata under ECHO_TOPIC (LOG1) and
 * returns the calldata.
 */
export const ECHO_INITCODE: Hex = (() => {
  const runtime = "3660006000377f" + ECHO_TOPIC.slice(2) + "366000a1366000f3";
  const len = (runtime.length / 2).toString(16).padStart(2, "0");
  // CODECOPY(0, 12, len); RETURN(0, len)
  return `0x60${len}600c60003960${len}6000f3${runtime}` as Hex;
})();

/** Deploys the echo contract; its address (the same on a fresh chain: nonce 0). */
export async function deployEcho(a: Anvil): Promise<EvmAddress> {
  const wallet = walletClient(a);
  const hash = await wallet.sendTransaction({
    account: DEV_ACCOUNT,
    chain: anvilChain(a),
    data: ECHO_INITCODE,
  });
  const receipt = await publicClient(a).waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (!receipt.contractAddress) throw new Error("no contract deployed");
  return receipt.contractAddress;
}

/** One call to the echo contract (mined at once: anvil automines). */
export async function callEcho(a: Anvil, to: EvmAddress, data: Hex): Promise<Hex> {
  const hash = await walletClient(a).sendTransaction({
    account: DEV_ACCOUNT,
    chain: anvilChain(a),
    to,
    data,
  });
  await publicClient(a).waitForTransactionReceipt({ hash, pollingInterval: 50 });
  return hash;
}
