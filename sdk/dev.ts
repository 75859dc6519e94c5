// Runs an SDK app on a local node and reinstalls it whenever its files change:
// the SDK's `kit bs`. The node has the distro packages (the homepage at /), an
// HTTP server and a password for /login; state persists in its home.
//
//   deno run -A sdk/dev.ts <app.ts> --package <name> --publisher <node>
//        [--home ./home] [--name fake.dev] [--password dev] [--port 8080] [--component]
//
// A rebuild bundles the app (tens of ms) and reinstalls the package: the process
// restarts on the new code with its saved state.

import { bootNode, type HyperdenoNode } from "../node.ts";
import { type BuiltPackage, writePackage } from "./build.ts";

export interface DevOptions {
  entry: string;
  packageName: string;
  publisher: string;
  home: string;
  name?: string;
  password?: string;
  /** HTTP port: 0 = any free; default first free at or above 8080 */
  port?: number;
  component?: boolean;
  /** Watch the entry's directory and reinstall on changes (default true). */
  watch?: boolean;
  log?: (text: string) => void;
}

export interface DevSession {
  node: HyperdenoNode;
  /** The last build. */
  built: BuiltPackage;
  /** Rebuilds and reinstalls now. */
  reload(): Promise<BuiltPackage>;
  stop(): Promise<void>;
}

export async function dev(opts: DevOptions): Promise<DevSession> {
  const log = opts.log ?? ((text: string) => console.log(text));
  const node = await bootNode({
    home: opts.home,
    name: opts.name,
    password: opts.password ?? "dev",
    httpPort: opts.port,
    distro: true,
    onPrint: (_level, text) => log(text),
  });
  const out = `${opts.home}/.sdk-dev/${opts.packageName}`;
  const install = async () => {
    const t0 = performance.now();
    const built = await writePackage({
      entry: opts.entry,
      out,
      packageName: opts.packageName,
      publisher: opts.publisher,
      component: opts.component,
    });
    await node.installPackage(built.dir);
    log(
      `sdk: ${built.processId} installed in ${Math.round(performance.now() - t0)} ms: ` +
        `${node.httpUrl}/${built.processId}/`,
    );
    return built;
  };
  let built: BuiltPackage;
  try {
    built = await install();
  } catch (e) {
    await node.shutdown();
    throw e;
  }
  let watcher: Deno.FsWatcher | undefined;
  let pending: Promise<unknown> = Promise.resolve();
  const reload = () => {
    const next = pending.then(install).then((b) => (built = b));
    pending = next.catch((e) => log(`sdk: rebuild failed: ${e instanceof Error ? e.message : e}`));
    return next;
  };
  if (opts.watch ?? true) {
    const cwd = new URL(`file://${Deno.cwd()}/`);
    const dir = new URL(".", new URL(opts.entry, cwd)).pathname;
    // the node writes in its home: never a reason to rebuild
    const home = new URL(opts.home.replace(/\/?$/, "/"), cwd).pathname;
    watcher = Deno.watchFs(dir);
    (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      for await (const e of watcher!) {
        if (!["create", "modify", "remove"].includes(e.kind)) continue;
        if (e.paths.every((p) => p.startsWith(home))) continue;
        clearTimeout(timer);
        timer = setTimeout(() => void reload().catch(() => {}), 100);
      }
    })();
  }
  return {
    node,
    get built() {
      return built;
    },
    reload,
    async stop() {
      watcher?.close();
      await pending;
      await node.shutdown();
    },
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const o: Partial<DevOptions> = { home: "./home" };
  const usage = () => {
    console.error(
      "usage: deno run -A sdk/dev.ts <app.ts> --package <name> --publisher <node>\n" +
        "       [--home ./home] [--name fake.dev] [--password dev] [--port 8080] [--component]",
    );
    Deno.exit(2);
  };
  while (args.length) {
    const a = args.shift()!;
    const value = () => args.shift() ?? usage() as never;
    if (a === "--package") o.packageName = value();
    else if (a === "--publisher") o.publisher = value();
    else if (a === "--home") o.home = value();
    else if (a === "--name") o.name = value();
    else if (a === "--password") o.password = value();
    else if (a === "--port") o.port = Number(value());
    else if (a === "--component") o.component = true;
    else if (a.startsWith("-") || o.entry) usage();
    else o.entry = a;
  }
  if (!o.entry || !o.packageName || !o.publisher) usage();
  const session = await dev(o as DevOptions);
  console.log(`sdk: watching ${o.entry}; log in at ${session.node.httpUrl} (Ctrl-C stops)`);
  const stop = () => void session.stop().then(() => Deno.exit(0));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
