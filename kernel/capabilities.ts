// The capability store: caps live on process entries, signed with the node's
// Ed25519 key as Hyperdrive signs them (the rmp-serde bytes of the Capability
// struct), with a reverse index so a killed process's caps die with it. Also
// the rules for which caps a process may attach to a message and which it may
// save.

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  type Address,
  addressToString,
  canonicalJson,
  type Capability,
  capabilityToJson,
  type KernelMessage,
  type ProcessId,
  processIdEquals,
  processIdToString,
  type SignedCapability,
} from "../wire/core.ts";
import { MsgWriter } from "../net/msgpack.ts";
import type { ProcessTable } from "./process_table.ts";

/**
 * The bytes a capability's signature covers: rmp_serde::to_vec(&Capability), a
 * struct as a 2-array of its fields, the issuer Address as its display string.
 */
export function capabilitySigningBytes(cap: Capability): Uint8Array {
  return new MsgWriter(64).arrayLen(2).str(addressToString(cap.issuer)).str(cap.params).finish();
}

/** capabilityKey(messagingCap(a)) without re-parsing the constant params. */
export function messagingKey(a: Address): string {
  return `${addressToString(a)}|"messaging"`;
}

/**
 * capabilityKey(cap), with the canonical form of its params remembered: a module checks
 * the same few params (e.g. kv's and sqlite's per-database caps) on every request, and
 * canonicalizing them (a JSON parse, key sort and stringify) was most of a check. The
 * result is the same string capabilityKey gives; the memo is bounded.
 */
export function capKey(cap: Capability): string {
  return `${addressToString(cap.issuer)}|${canonicalParams(cap.params)}`;
}

const CANONICAL_MEMO_MAX = 512;
/** params strings at most this long are remembered */
const CANONICAL_MEMO_TEXT = 1024;
const canonicalMemo = new Map<string, string>();

function canonicalParams(params: string): string {
  let c = canonicalMemo.get(params);
  if (c !== undefined) return c;
  c = canonicalJson(params);
  if (params.length <= CANONICAL_MEMO_TEXT) {
    if (canonicalMemo.size >= CANONICAL_MEMO_MAX) canonicalMemo.clear();
    canonicalMemo.set(params, c);
  }
  return c;
}

export class CapabilityStore {
  readonly publicKey: Uint8Array;
  /** issuer process -> grantee process -> capability keys it issued to them */
  private readonly reverseIndex = new Map<string, Map<string, Set<string>>>();
  /** caps each process received on messages: the ones it may save */
  private readonly received = new Map<string, Map<string, SignedCapability>>();

  constructor(
    private readonly table: ProcessTable,
    private readonly key: Uint8Array,
    /** `pid`'s caps changed: its direct channels must be authorized again */
    private readonly capsChanged: (pid: string) => void,
    /** `pid` got caps: channels that carry its rights of the moment (module channels) must go */
    private readonly capsAdded: (pid: string) => void = () => {},
  ) {
    this.publicKey = ed25519.getPublicKey(key);
  }

  sign(cap: Capability): SignedCapability {
    const signature = ed25519.sign(capabilitySigningBytes(cap), this.key);
    return { issuer: cap.issuer, params: cap.params, signature };
  }

  verify(cap: SignedCapability): boolean {
    if (!cap.signature || cap.signature.length !== 64) return false;
    try {
      return ed25519.verify(cap.signature, capabilitySigningBytes(cap), this.publicKey);
    } catch {
      return false;
    }
  }

  has(process: ProcessId, cap: Capability): boolean {
    const p = this.table.processMap.get(processIdToString(process));
    return p !== undefined && p.capabilities.has(capKey(cap));
  }

  /** Signs `caps` and gives them to `on`; false when there is no such process. */
  add(on: ProcessId, caps: (Capability | SignedCapability)[], persist = true): boolean {
    const pid = processIdToString(on);
    const entry = this.table.processMap.get(pid);
    if (!entry) return false;
    for (const cap of caps) {
      const key = capKey(cap);
      entry.capabilities.set(key, this.sign(cap));
      const issuer = processIdToString(cap.issuer.process);
      let byGrantee = this.reverseIndex.get(issuer);
      if (!byGrantee) this.reverseIndex.set(issuer, byGrantee = new Map());
      let keys = byGrantee.get(pid);
      if (!keys) byGrantee.set(pid, keys = new Set());
      keys.add(key);
    }
    if (caps.length > 0) this.capsAdded(pid);
    if (persist) this.table.persist(pid);
    return true;
  }

  drop(on: ProcessId, caps: Capability[]): boolean {
    const pid = processIdToString(on);
    const entry = this.table.processMap.get(pid);
    if (!entry) return false;
    for (const cap of caps) entry.capabilities.delete(capKey(cap));
    this.capsChanged(pid);
    this.table.persist(pid);
    return true;
  }

  /** Removes every capability `issuer` gave out (a killed process's caps die with it). */
  revokeAll(issuer: string): void {
    const byGrantee = this.reverseIndex.get(issuer);
    if (!byGrantee) return;
    for (const [grantee, keys] of byGrantee) {
      const entry = this.table.processMap.get(grantee);
      if (!entry) continue;
      for (const k of keys) entry.capabilities.delete(k);
      this.capsChanged(grantee);
      this.table.persist(grantee);
    }
    this.reverseIndex.delete(issuer);
  }

  /** Caps a process may attach: ones it holds, or ones it issues itself (signed now). */
  filter(on: ProcessId, caps: Capability[]): SignedCapability[] {
    const entry = this.table.processMap.get(processIdToString(on));
    if (!entry) return [];
    const out: SignedCapability[] = [];
    for (const cap of caps) {
      if (processIdEquals(cap.issuer.process, on)) {
        out.push(this.sign(cap));
      } else {
        const held = entry.capabilities.get(capKey(cap));
        if (held) out.push(held);
      }
    }
    return out;
  }

  /** Caps on a remote message that claim to be issued here must carry our signature. */
  verifyRemote(km: KernelMessage): void {
    const val = km.message.tag === "request" ? km.message.val : km.message.val[0];
    val.capabilities = val.capabilities.filter((c) =>
      c.issuer.node !== this.table.our || this.verify(c)
    );
  }

  /** Remembers the caps a message brings `pid`: the ones it may later save. */
  noteReceived(pid: string, km: KernelMessage): void {
    const caps = km.message.tag === "request"
      ? km.message.val.capabilities
      : km.message.val[0].capabilities;
    if (caps.length === 0) return;
    let m = this.received.get(pid);
    if (!m) this.received.set(pid, m = new Map());
    for (const c of caps) m.set(capKey(c), c);
  }

  /** A process's save-capabilities: only caps it was given on a message, or issues itself. */
  save(id: ProcessId, caps: Capability[]): void {
    const pid = processIdToString(id);
    const received = this.received.get(pid);
    const allowed = caps.filter((c) => {
      const own = processIdToString(c.issuer.process) === pid;
      const got = received?.get(capKey(c));
      if (!own && !got) {
        this.table.log(
          1,
          `kernel: ${pid} tried to save a capability it was never given: ${
            addressToString(c.issuer)
          }(${c.params})`,
        );
      }
      return own || got;
    });
    this.add(id, allowed);
  }

  /** The caps `id` holds, without signatures (what our-capabilities answers). */
  held(id: ProcessId): Capability[] {
    const entry = this.table.processMap.get(processIdToString(id));
    return entry
      ? [...entry.capabilities.values()].map((c) => ({ issuer: c.issuer, params: c.params }))
      : [];
  }

  /**
   * The subset of `caps` that `initializer` holds, printing each one it lacks
   * (InitializeProcess may pass on only what its caller has; the kernel may pass anything).
   */
  heldBy(initializer: ProcessId, caps: Capability[]): Capability[] {
    const initializerPid = processIdToString(initializer);
    if (initializerPid === "kernel:distro:sys") return caps;
    const held = this.table.processMap.get(initializerPid)?.capabilities ?? new Map();
    return caps.filter((c) => {
      const ok = held.has(capKey(c));
      if (!ok) {
        this.table.log(
          0,
          `kernel: InitializeProcess caller ${initializerPid} doesn't have capability ${
            capabilityToJson(c).issuer
          }(${c.params})`,
        );
      }
      return ok;
    });
  }

  /** Forgets what a killed process received. */
  forget(pid: string): void {
    this.received.delete(pid);
  }
}
