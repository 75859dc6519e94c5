// Config actions (EthConfigAction, only from our node with eth's root capability): the
// provider table (add, remove, replace, get) and the access settings other nodes are
// checked against (public, allow and deny lists), saved to <home>/.eth_providers and
// <home>/.eth_access_settings as Hyperdrive writes them; GetState.

import type { AccessSettings, EthConfigAction, EthConfigResponse } from "../../wire/eth.ts";
import {
  ACCESS_SETTINGS_FILE,
  accessSettingsText,
  PROVIDERS_FILE,
  savedConfigsText,
} from "./config.ts";
import type { EthEnv } from "./env.ts";
import type { ProviderHealth } from "./health.ts";
import { ProviderTable } from "./providers.ts";
import type { Subscriptions } from "./subscriptions.ts";

export class ConfigActions {
  readonly #env: EthEnv;
  readonly #health: ProviderHealth;
  readonly #subscriptions: Subscriptions;
  #access: { public: boolean; allow: Set<string>; deny: Set<string> } = {
    public: false,
    allow: new Set(),
    deny: new Set(),
  };

  constructor(env: EthEnv, health: ProviderHealth, subscriptions: Subscriptions) {
    this.#env = env;
    this.#health = health;
    this.#subscriptions = subscriptions;
  }

  /** The access settings read at start. */
  setAccess(access: AccessSettings): void {
    this.#access = {
      public: access.public,
      allow: new Set(access.allow),
      deny: new Set(access.deny),
    };
  }

  /** Whether another node may send us EthActions: not denied, and public or allowed. */
  admits(node: string): boolean {
    const a = this.#access;
    return !a.deny.has(node) && (a.public || a.allow.has(node));
  }

  /** The access settings as saved and as GetAccessSettings answers them. */
  accessSettings(): AccessSettings {
    return {
      public: this.#access.public,
      allow: [...this.#access.allow],
      deny: [...this.#access.deny],
    };
  }

  /** Does the action; changed settings are saved (if saving fails they still apply). */
  async act(action: EthConfigAction): Promise<EthConfigResponse> {
    this.#env.verbose(`eth: handling eth_config_action ${action.tag}`);
    let saveSettings = false;
    let saveProviders = false;
    let notFound = false;
    switch (action.tag) {
      case "AddProvider": {
        const replaced = this.#env.providers.add(action.config);
        if (replaced) this.#health.release(replaced);
        saveProviders = true;
        break;
      }
      case "RemoveProvider":
        if (
          this.#env.providers.remove(
            action.chainId,
            action.provider,
            (c) => this.#health.release(c),
          )
        ) {
          saveProviders = true;
        } else {
          notFound = true;
        }
        break;
      case "SetPublic":
      case "SetPrivate":
        this.#access.public = action.tag === "SetPublic";
        saveSettings = true;
        break;
      case "AllowNode":
        this.#access.allow.add(action.node);
        saveSettings = true;
        break;
      case "UnallowNode":
        this.#access.allow.delete(action.node);
        saveSettings = true;
        break;
      case "DenyNode":
        this.#access.deny.add(action.node);
        saveSettings = true;
        break;
      case "UndenyNode":
        this.#access.deny.delete(action.node);
        saveSettings = true;
        break;
      case "SetProviders": {
        const old = this.#env.providers;
        this.#env.providers = ProviderTable.from(action.configs);
        for (const c of old.connections()) this.#health.release(c);
        saveProviders = true;
        break;
      }
      case "GetProviders":
        return { Providers: this.#env.providers.toSavedConfigs() };
      case "GetAccessSettings":
        return { AccessSettings: this.accessSettings() };
      case "GetState":
        return { State: this.#state() };
    }
    const home = this.#env.ctx.home;
    if (saveSettings) {
      try {
        await Deno.writeTextFile(
          `${home}/${ACCESS_SETTINGS_FILE}`,
          accessSettingsText(this.accessSettings()),
        );
        this.#env.verbose("eth: saved new access settings");
      } catch { /* as Hyperdrive: unsaved, still in effect */ }
    }
    if (saveProviders) {
      try {
        await Deno.writeTextFile(
          `${home}/${PROVIDERS_FILE}`,
          savedConfigsText(this.#env.providers.toSavedConfigs()),
        );
        this.#env.verbose("eth: saved new provider settings");
      } catch { /* as above */ }
    }
    return notFound ? "ProviderNotFound" : "Ok";
  }

  /** GetState: active subscriptions and the message ids awaiting an answer. */
  #state() {
    const active_subscriptions = this.#subscriptions.active();
    return { active_subscriptions, outstanding_requests: [...this.#env.channels.keys()] };
  }
}
