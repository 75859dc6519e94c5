// A booted hyperdeno node with http-server and http-client registered and the
// webapp fixture package installed (a JS process module in a Worker).

import { bootNode, type HyperdenoNode } from "../../main.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import { createHttpClient } from "../../modules/http_client/mod.ts";
import { createHttpServer, type HttpServerModule } from "../../modules/http_server/mod.ts";
import { loadOrCreateKeyfile } from "../../modules/keyfile/mod.ts";

export const NODE_NAME = "fake.dev";
export const WEBAPP = "webapp:webapp:test.os";

export interface HttpNode {
  node: HyperdenoNode;
  http: HttpServerModule;
  base: string;
  port: number;
  prints: string[];
  /** The keyfile's JWT secret: signs login cookies (generateJwt). */
  jwtSecret: Uint8Array;
  stop(): Promise<void>;
}

function writeWebappPackage(root: string): Promise<string> {
  const modules = ["http-server:distro:sys", "http-client:distro:sys"];
  return writeKitPackage(root, {
    name: "webapp",
    files: { "webapp.js": new URL("./fixtures/webapp.js", import.meta.url) },
    manifest: [{
      process_name: "webapp",
      process_wasm_path: "/webapp.js",
      on_exit: "Restart",
      request_networking: false,
      // as kit's templates: message http-server/http-client, and let them message us
      request_capabilities: modules,
      grant_capabilities: modules,
      public: false,
    }],
  });
}

export async function bootHttpNode(
  home: string,
  opts: { password: string; exposeLocal?: boolean; hostname?: string },
): Promise<HttpNode> {
  const loaded = await loadOrCreateKeyfile({
    home,
    our: NODE_NAME,
    password: opts.password,
  });
  const http = createHttpServer({
    port: 0,
    hostname: opts.hostname ?? "127.0.0.1",
    jwtSecret: loaded.keyfile.jwtSecret,
    encodedKeyfile: loaded.encoded,
    exposeLocal: opts.exposeLocal ?? true,
  });
  const prints: string[] = [];
  const node = await bootNode({
    home,
    name: NODE_NAME,
    onPrint: (_level, text) => prints.push(text),
    keyfile: loaded,
    modules: [http, createHttpClient()],
  });
  try {
    await node.installPackage(await writeWebappPackage(home + "/src"));
    const deadline = Date.now() + 20_000;
    while (!prints.some((p) => p.includes("webapp: bound"))) {
      if (Date.now() > deadline) throw new Error(`webapp did not bind:\n${prints.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    await node.shutdown();
    throw e;
  }
  return {
    node,
    http,
    base: http.url!,
    port: http.port!,
    prints,
    jwtSecret: loaded.keyfile.jwtSecret,
    stop: () => node.shutdown(),
  };
}
