// hfetch:terminal:sys (alias kfetch): system information a la neofetch: our identity (net),
// eth's providers and subscriptions, and how many processes run (the kernel).
// Self-contained, as every process module is (it cannot import its neighbours).
import {
  printToTerminal,
  receive,
  sendAndAwaitResponse,
  sendResponse,
} from "hyperware:process/standard@1.0.0";

const enc = new TextEncoder();
const dec = new TextDecoder(); // lossy, as String::from_utf8_lossy

/**
 * process_lib's script!: the first message carries the arguments; the answer goes
 * back as the response when one is expected, else it is printed.
 */
export function init(our: string): void {
  let req;
  try {
    const [, message] = receive();
    if (message.tag !== "request") return;
    req = message.val;
  } catch {
    return;
  }
  const answer = main(our, dec.decode(req.body));
  if (req.expectsResponse !== undefined) {
    sendResponse(
      { inherit: false, body: enc.encode(answer), metadata: undefined, capabilities: [] },
      undefined,
    );
  } else if (answer !== "") {
    printToTerminal(0, answer);
  }
}

type Answer = { body: Uint8Array } | { error: "timeout" | "offline" };

/** A request to `node`@`pid` and its answer, or why none came. */
function ask(node: string, pid: string, body: Uint8Array, timeoutS: number): Answer {
  const [processName, packageName, publisherNode] = pid.split(":");
  try {
    const [, m] = sendAndAwaitResponse(
      { node, process: { processName, packageName, publisherNode } },
      {
        inherit: false,
        expectsResponse: BigInt(timeoutS),
        body,
        metadata: undefined,
        capabilities: [],
      },
      undefined,
    );
    return m.tag === "response" ? { body: m.val[0].body } : { error: "timeout" };
  } catch (e) {
    return {
      error: (e as { payload?: { kind?: string } })?.payload?.kind === "offline"
        ? "offline"
        : "timeout",
    };
  }
}

/** MessagePack as rmp-serde writes net's types (structs as arrays, enums as {variant: value}). */
function unpack(b: Uint8Array): unknown {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  const take = (n: number) => {
    if (i + n > b.length) throw new Error("truncated MessagePack");
    const s = b.subarray(i, i + n);
    i += n;
    return s;
  };
  const many = (n: number) => Array.from({ length: n }, () => read());
  const map = (n: number) => {
    const o: Record<string, unknown> = {};
    for (let k = 0; k < n; k++) {
      const key = String(read());
      o[key] = read();
    }
    return o;
  };
  const u = (n: 1 | 2 | 4 | 8) => {
    const at = take(n).byteOffset - b.byteOffset;
    return n === 1
      ? dv.getUint8(at)
      : n === 2
      ? dv.getUint16(at)
      : n === 4
      ? dv.getUint32(at)
      : Number(dv.getBigUint64(at));
  };
  function read(): unknown {
    const t = take(1)[0];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f);
    if (t >= 0x90 && t <= 0x9f) return many(t & 0x0f);
    if (t >= 0xa0 && t <= 0xbf) return dec.decode(take(t & 0x1f));
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return take(u(t === 0xc4 ? 1 : t === 0xc5 ? 2 : 4)).slice();
      case 0xcc:
        return u(1);
      case 0xcd:
        return u(2);
      case 0xce:
        return u(4);
      case 0xcf:
        return u(8);
      case 0xd0:
        return (u(1) << 24) >> 24;
      case 0xd1:
        return (u(2) << 16) >> 16;
      case 0xd2:
        return u(4) | 0;
      case 0xd3: {
        const at = take(8).byteOffset - b.byteOffset;
        return Number(dv.getBigInt64(at));
      }
      case 0xd9:
        return dec.decode(take(u(1)));
      case 0xda:
        return dec.decode(take(u(2)));
      case 0xdb:
        return dec.decode(take(u(4)));
      case 0xdc:
        return many(u(2));
      case 0xdd:
        return many(u(4));
      case 0xde:
        return map(u(2));
      case 0xdf:
        return map(u(4));
    }
    throw new Error(`unexpected MessagePack byte 0x${t.toString(16)}`);
  }
  return read();
}

/** A MessagePack string. */
function packStr(s: string): Uint8Array {
  const b = enc.encode(s);
  const head = b.length < 32
    ? [0xa0 | b.length]
    : b.length < 256
    ? [0xd9, b.length]
    : [0xda, b.length >> 8, b.length & 0xff];
  return new Uint8Array([...head, ...b]);
}

/** NetAction: a unit variant is its name; GetPeer(name) is {"GetPeer": name}. */
function netAction(variant: string, arg?: string): Uint8Array {
  if (arg === undefined) return packStr(variant);
  return new Uint8Array([0x81, ...packStr(variant), ...packStr(arg)]);
}

/** The one {variant: value} of a NetResponse, if it is `variant`. */
function netResponse(body: Uint8Array, variant: string): { value: unknown } | undefined {
  try {
    const v = unpack(body);
    if (v && typeof v === "object" && !Array.isArray(v) && variant in v) {
      return { value: (v as Record<string, unknown>)[variant] };
    }
  } catch { /* malformed */ }
  return undefined;
}

interface Identity {
  name: string;
  networking_key: string;
  routing: Record<string, unknown>;
}

/** lib's Identity from its MessagePack (an array of fields, or a map of them). */
function identity(v: unknown): Identity | undefined {
  const f = Array.isArray(v)
    ? { name: v[0], networking_key: v[1], routing: v[2] }
    : v && typeof v === "object"
    ? v as Record<string, unknown>
    : undefined;
  if (!f || typeof f.name !== "string" || typeof f.networking_key !== "string") return undefined;
  if (!f.routing || typeof f.routing !== "object") return undefined;
  return f as unknown as Identity;
}

/** A routing variant's fields, whether written as an array or a map. */
function fields(v: unknown, names: string[]): Record<string, unknown> {
  if (Array.isArray(v)) return Object.fromEntries(names.map((n, i) => [n, v[i]]));
  return (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
}

/** hyperdeno's version (node.ts VERSION), where Hyperdrive shows its Cargo.toml version. */
const VERSION = "0.1.0";

function json(a: Answer): unknown {
  if (!("body" in a)) return undefined;
  try {
    return JSON.parse(dec.decode(a.body));
  } catch {
    return null;
  }
}

function routingText(r: Record<string, unknown>): string {
  if ("Routers" in r) return `${Array.isArray(r.Routers) ? r.Routers.length : 0} routers`;
  const d = fields(r.Direct ?? r.Both, ["ip", "ports"]);
  const ports = d.ports && typeof d.ports === "object" ? Object.keys(d.ports).sort() : [];
  return `direct at ${d.ip} with ${ports.join(", ")}`;
}

function main(our: string, _args: string): string {
  const node = our.split("@")[0];
  const peer = ask(node, "net:distro:sys", netAction("GetPeer", node), 60);
  if (!("body" in peer)) return "failed to get response from net";
  const p = netResponse(peer.body, "Peer");
  const id = p && identity(p.value);
  if (!id) return "got malformed response from net";

  const eth = (body: string) => json(ask(node, "eth:distro:sys", enc.encode(body), 60));
  const providers = eth('"GetProviders"') as { Providers?: { chain_id?: unknown }[] } | null;
  if (providers === undefined) return "failed to get response from eth";
  if (!providers || !Array.isArray(providers.Providers)) return "failed to parse eth response";
  const state = eth('"GetState"') as {
    State?: { active_subscriptions?: Record<string, object>; outstanding_requests?: unknown[] };
  } | null;
  if (state === undefined) return "failed to get response from eth";
  const st = state?.State;
  if (
    !st || typeof st.active_subscriptions !== "object" || !Array.isArray(st.outstanding_requests)
  ) {
    return "failed to parse eth response";
  }
  const map = json(ask(node, "kernel:distro:sys", enc.encode('{"Debug":"ProcessMap"}'), 60)) as
    | { Debug?: { ProcessMap?: Record<string, unknown> } }
    | null;
  if (map === undefined) return "failed to get response from kernel";
  if (!map?.Debug?.ProcessMap) return "failed to parse kernel response";

  const chains = [...new Set(providers.Providers.map((c) => String(c.chain_id)))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const subs = Object.values(st.active_subscriptions ?? {}).reduce(
    (n, s) => n + Object.keys(s ?? {}).length,
    0,
  );
  return `
                 ${node}

   ▄█    █▄      Hyperware ${VERSION}
  ███    ███
  ███    ███     pubkey: ${id.networking_key}
 ▄███▄▄▄▄███▄▄   routing: ${routingText(id.routing)}
▀▀███▀▀▀▀███▀
  ███    ███     ${providers.Providers.length} eth providers for chain IDs ${chains.join(", ")}
  ███    ███     ${subs} active eth subscriptions
  ███    █▀      ${st.outstanding_requests.length} outstanding eth requests

                 ${Object.keys(map.Debug.ProcessMap).length} running processes
`;
}
