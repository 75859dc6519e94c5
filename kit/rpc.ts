// kit's RPC to a node (its inject_message module): a JSON message POSTed to
// http://localhost:<port>/rpc:distro:sys/message (served with --expose-local), and the node's
// answer { body: [bytes], lazy_load_blob: null | { bytes: [base64 text bytes] } }. The message's
// keys are in serde_json's order (sorted), as kit sends them.

export const ENDPOINT = "/rpc:distro:sys/message";

/** JSON text with every object's keys sorted, as serde_json's default Map writes it. */
export function sortedJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort(byteOrder)) {
      out[k] = sortKeys((v as Record<string, unknown>)[k]);
    }
    return out;
  }
  return v;
}

/** Rust String ordering: bytewise UTF-8. */
export function byteOrder(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** kit's make_message: the RPC message for `process` with `body` (a string, sent as is). */
export function makeMessage(
  process: string,
  expectsResponse: number | null,
  body: string,
  node: string | null = null,
  blob: Uint8Array | null = null,
): Record<string, unknown> {
  return {
    node,
    process,
    inherit: false,
    expects_response: expectsResponse,
    body,
    metadata: null,
    context: null,
    mime: "application/octet-stream",
    data: blob ? blob.toBase64() : null,
  };
}

/** The node's URL for a localhost port. */
export function nodeUrl(port: number): string {
  return `http://localhost:${port}`;
}

/** A connection refused: kit's "is Hyperdrive running?" case. */
export class NodeUnreachable extends Error {}

/** POSTs the message (keys sorted) to the node's RPC endpoint. */
export async function sendRequest(url: string, message: unknown): Promise<Response> {
  let target = url;
  if (!target.endsWith(ENDPOINT)) target = `${target.replace(/\/$/, "")}${ENDPOINT}`;
  try {
    return await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: sortedJson(message),
    });
  } catch (e) {
    throw new NodeUnreachable(
      `could not reach ${url} (${e instanceof Error ? e.message : e}): is the node running? ` +
        "(deno task fake-node; a node from the CLI needs --expose-local)",
    );
  }
}

/** A node's answer to an RPC message. */
export interface RpcAnswer {
  /** The response body as text (kit requires UTF-8). */
  body: string;
  /** The blob, base64-decoded, if any. */
  blob?: Uint8Array;
}

/** kit's parse_response: a 200 with { body, lazy_load_blob }, else "Failed with status code". */
export async function parseResponse(res: Response): Promise<RpcAnswer> {
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`Failed with status code: ${statusText(res)}`);
  }
  const data = JSON.parse(await res.text());
  if (!data || !("body" in data)) throw new Error("Response did not contain `body` field.");
  if (!Array.isArray(data.body)) throw new Error("Response `body` was not bytes.");
  const body = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(data.body));
  const b = data.lazy_load_blob;
  let bytes: number[] | undefined;
  if (Array.isArray(b)) bytes = b;
  else if (b && typeof b === "object" && Array.isArray(b.bytes)) bytes = b.bytes;
  else if (b !== null && b !== undefined && !(typeof b === "object" && !("bytes" in b))) {
    throw new Error("Response did not contain `lazy_load_blob` bytes field.");
  }
  let blob: Uint8Array | undefined;
  if (bytes) {
    // the bytes are base64 text; kit drops a blob that does not decode
    try {
      blob = Uint8Array.fromBase64(new TextDecoder().decode(new Uint8Array(bytes)));
    } catch {
      blob = undefined;
    }
  }
  return { body, blob };
}

/** reqwest's StatusCode display: "200 OK". */
export function statusText(res: Response): string {
  return `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
}

/** The RPC message's answer, or an error with kit's texts. */
export async function request(url: string, message: unknown): Promise<RpcAnswer> {
  return await parseResponse(await sendRequest(url, message));
}

/** kit's Display of a Response: the body, then the blob as text if it is UTF-8. */
export function showAnswer(a: RpcAnswer): string {
  let blob: string;
  if (!a.blob) blob = "None";
  else {
    try {
      blob = new TextDecoder("utf-8", { fatal: true }).decode(a.blob);
    } catch {
      blob = `Some([${[...a.blob].join(", ")}])`;
    }
  }
  return `Response:\nbody: ${a.body}\nblob: ${blob}`;
}
