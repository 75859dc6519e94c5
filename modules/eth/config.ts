// What eth:distro:sys reads and writes in the node home, and Hyperdrive's boot rules for
// them (main.rs): <home>/.eth_providers (SavedConfigs; the default providers when
// missing), --rpc / --rpc-config added in front and saved, the simulation build's local
// chain put first unsaved; <home>/.eth_access_settings (private, empty lists by default).

import DEFAULT_PROVIDERS from "./default_providers_mainnet.json" with { type: "json" };
import {
  type AccessSettings,
  parseAccessSettings,
  parseRpcUrlConfigInputs,
  parseSavedConfigs,
  type ProviderConfig,
  providerConfigToJson,
} from "../../wire/eth.ts";
import { decodeUtf8Strict, encodeJsonExact, parseJsonExact } from "../../wire/json.ts";
import { addProviderToConfigs } from "./providers.ts";

export const PROVIDERS_FILE = ".eth_providers";
export const ACCESS_SETTINGS_FILE = ".eth_access_settings";

/** Hyperdrive's chain: Base, or the simulation build's local chain (kit's fake nodes). */
export const CHAIN_ID = 8453n;
export const SIMULATION_CHAIN_ID = 31337n;
export const DEFAULT_FAKECHAIN_PORT = 8545;

export interface BootConfigOptions {
  /** --rpc */
  rpc?: string;
  /** --rpc-config, already resolved to an existing path */
  rpcConfig?: string;
  /** Hyperdrive's simulation-mode build */
  simulation?: boolean;
  /** --fakechain-port (simulation) */
  fakechainPort?: number;
}

/** Hyperdrive's default_providers_mainnet.json. */
export function defaultProviders(): ProviderConfig[] {
  return parseSavedConfigs(DEFAULT_PROVIDERS);
}

export function savedConfigsText(configs: ProviderConfig[]): string {
  return decodeUtf8Strict(encodeJsonExact(configs.map(providerConfigToJson)));
}

export function accessSettingsText(a: AccessSettings): string {
  return JSON.stringify({ public: a.public, allow: a.allow, deny: a.deny });
}

/** The provider list the module starts with, after main.rs's boot rules. */
export async function loadProviderConfigs(
  home: string,
  opts: BootConfigOptions,
  print: (verbosity: number, text: string) => void,
): Promise<ProviderConfig[]> {
  let updated = false;
  let configs: ProviderConfig[];
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(`${home}/${PROVIDERS_FILE}`);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    updated = true;
    configs = defaultProviders();
  } else {
    try {
      configs = parseSavedConfigs(parseJsonExact(text));
    } catch {
      print(0, "error loading saved eth providers, using default providers");
      configs = defaultProviders();
    }
  }
  const chainId = opts.simulation ? SIMULATION_CHAIN_ID : CHAIN_ID;
  if (opts.rpc !== undefined) {
    addProviderToConfigs(configs, {
      chain_id: chainId,
      trusted: true,
      provider: { RpcUrl: { url: opts.rpc } },
    });
    updated = true;
  }
  if (opts.rpcConfig !== undefined) {
    let input: string | undefined;
    try {
      input = await Deno.readTextFile(opts.rpcConfig);
    } catch {
      print(0, "Failed to read RPC config file");
    }
    if (input !== undefined) {
      try {
        const entries = parseRpcUrlConfigInputs(parseJsonExact(input));
        // the first entry in the file ends up first
        for (const e of entries.reverse()) {
          addProviderToConfigs(configs, {
            chain_id: chainId,
            trusted: true,
            provider: { RpcUrl: e.auth ? { url: e.url, auth: e.auth } : { url: e.url } },
          });
        }
        updated = true;
      } catch {
        print(0, "Failed to parse RPC config file");
      }
    }
  }
  if (updated) await Deno.writeTextFile(`${home}/${PROVIDERS_FILE}`, savedConfigsText(configs));
  if (opts.simulation) {
    configs.unshift({
      chain_id: SIMULATION_CHAIN_ID,
      trusted: true,
      provider: {
        RpcUrl: { url: `ws://localhost:${opts.fakechainPort ?? DEFAULT_FAKECHAIN_PORT}` },
      },
    });
  }
  return configs;
}

/** .eth_access_settings, or private with empty lists when missing or unreadable. */
export async function loadAccessSettings(home: string): Promise<AccessSettings> {
  try {
    return parseAccessSettings(
      JSON.parse(await Deno.readTextFile(`${home}/${ACCESS_SETTINGS_FILE}`)),
    );
  } catch {
    return { public: false, allow: [], deny: [] };
  }
}
