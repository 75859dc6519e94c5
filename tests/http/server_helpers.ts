// Shared set-up for http-server tests: a MiniKernel with http-server on an
// ephemeral loopback port, and in-test processes that bind and answer.

import {
  type Address,
  type KernelMessage,
  type LazyLoadBlob,
  textDecoder,
  textEncoder,
} from "../../wire/core.ts";
import {
  createHttpServer,
  type HttpServerModule,
  type HttpServerOptions,
} from "../../modules/http_server/mod.ts";
import { assertEquals } from "../assert.ts";
import { bodyJson, MiniKernel } from "./harness.ts";

export const OUR = "fake.dev";

export interface Setup {
  k: MiniKernel;
  server: HttpServerModule;
  base: string;
  port: number;
  jwtSecret: Uint8Array;
  http: Address;
  stop(): Promise<void>;
}

export async function setup(opts: Partial<HttpServerOptions> = {}): Promise<Setup> {
  const k = new MiniKernel(OUR);
  const jwtSecret = opts.jwtSecret ?? crypto.getRandomValues(new Uint8Array(32));
  const server = createHttpServer({
    port: 0,
    hostname: "127.0.0.1",
    jwtSecret,
    ...opts,
  });
  k.addModule(server);
  await k.start();
  return {
    k,
    server,
    base: server.url!,
    port: server.port!,
    jwtSecret,
    http: k.addr("http-server:distro:sys"),
    stop: () => k.stop(),
  };
}

/** Send an HttpServerAction from `from` and return the parsed Result. */
export async function act(
  s: Setup,
  from: Address,
  action: unknown,
  blob?: LazyLoadBlob,
): Promise<unknown> {
  const res = await s.k.request(from, s.http, action, { expectsResponse: 5, blob });
  return bodyJson(res);
}

/** `from` binds its whole prefix ("/"), open: no auth, not local-only, not cached. */
export function bindOpenRoot(s: Setup, from: Address): Promise<unknown> {
  return act(s, from, {
    Bind: { path: "/", authenticated: false, local_only: false, cache: false },
  });
}

/** Assert a response's status and release its body (for answers whose body is not read). */
export async function expectStatus(res: Response | Promise<Response>, status: number) {
  const r = await res;
  assertEquals(r.status, status);
  await r.body?.cancel();
  return r;
}

/** A Deno.test on a fresh http-server (in its MiniKernel), stopped however the test ends. */
export function serverTest(
  name: string,
  fn: (s: Setup) => Promise<void>,
  opts?: Partial<HttpServerOptions>,
): void {
  Deno.test(name, async () => {
    const s = await setup(opts);
    try {
      await fn(s);
    } finally {
      await s.stop();
    }
  });
}

/** An in-test process that answers every Http request with a JSON echo of it. */
export function echoProcess(s: Setup, id: string, seen?: KernelMessage[]): Address {
  return s.k.process(id, (km, k) => {
    if (km.message.tag !== "request") return;
    seen?.push(km);
    const req = bodyJson(km) as { Http?: unknown };
    if (!req.Http) return;
    const body = textEncoder.encode(JSON.stringify({
      request: req.Http,
      body: textDecoder.decode(km.lazyLoadBlob?.bytes ?? new Uint8Array()),
      expects: km.message.val.expectsResponse?.toString(),
    }));
    k.respond(km, { status: 200, headers: { "Content-Type": "application/json", "X-App": id } }, {
      mime: undefined,
      bytes: body,
    });
  });
}
