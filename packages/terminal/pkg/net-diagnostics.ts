// net-diagnostics:terminal:sys: net's own account of itself (NetAction::GetDiagnostics).
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

function main(our: string, _args: string): string {
  const answer = ask(our.split("@")[0], "net:distro:sys", netAction("GetDiagnostics"), 60);
  if (!("body" in answer)) return "Failed to get diagnostics from networking module";
  const d = netResponse(answer.body, "Diagnostics");
  if (!d || typeof d.value !== "string") return "Got malformed response from networking module";
  return `\r\n${d.value}`;
}
