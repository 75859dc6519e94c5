// `deno task view-api [PACKAGE_ID]`: kit view-api. Without a package id: the app store's list
// of APIs ("Apis"); with one: its api.zip (GetApi), unpacked under /tmp/hyperdeno-kit-cache and
// each .wit printed; a package the node does not have is downloaded first (chain:app-store:sys
// GetApp for its version hash, downloads:app-store:sys LocalDownload), as kit does.

import { unzipSync } from "fflate";
import { type Parsed, portValue, type VerbSpec } from "./args.ts";
import { makeMessage, nodeUrl, request, sortedJson } from "./rpc.ts";

export const KIT_CACHE = "/tmp/hyperdeno-kit-cache";

export const VIEW_API: VerbSpec = {
  name: "view-api",
  alias: "v",
  about: "Fetch the list of APIs or a specific API",
  args: [
    {
      name: "PACKAGE_ID",
      positional: true,
      help: "Get API of this package [default: list all APIs]",
    },
    { name: "port", long: "port", short: "p", default: "8080", help: "localhost node port" },
    {
      name: "download-from",
      long: "download-from",
      short: "d",
      value: "NODE",
      help: "Download API from this node if not found",
    },
  ],
};

function appStore(process: string, body: unknown) {
  return makeMessage(`${process}:app-store:sys`, 5, sortedJson(body));
}

function splitPackageId(id: string): [string, string] {
  // kit's splitn(2, ':'): the publisher is everything after the first colon
  const i = id.indexOf(":");
  if (i < 0) {
    throw new Error("package_id must be None or Some(<package>:<publisher>)");
  }
  return [id.slice(0, i), id.slice(i + 1)];
}

/** The app store's Apis answer, each API as "package:publisher" (kit's rewrite_list_apis). */
export async function listApis(url: string): Promise<unknown> {
  const answer = await request(url, appStore("main", "Apis"));
  const body = JSON.parse(answer.body);
  const apis = body?.ApisResponse?.apis;
  if (Array.isArray(apis)) {
    body.ApisResponse.apis = apis.map((a: { package_name?: string; publisher_node?: string }) =>
      a && typeof a === "object" ? `${a.package_name}:${a.publisher_node}` : ""
    );
  }
  return body;
}

async function download(url: string, id: string, from?: string): Promise<void> {
  const [pkg, publisher] = splitPackageId(id);
  const app = JSON.parse(
    (await request(
      url,
      appStore("chain", { GetApp: { package_name: pkg, publisher_node: publisher } }),
    ))
      .body,
  );
  const hash = app?.GetApp;
  if (typeof hash !== "string" || !hash) throw new Error("Failed to get required version hash");
  const answer = await request(
    url,
    appStore("downloads", {
      LocalDownload: {
        package_id: { package_name: pkg, publisher_node: publisher },
        download_from: from ?? publisher,
        desired_version_hash: hash,
      },
    }),
  );
  if (answer.body.includes("Success")) return;
  if (!answer.body.includes("Started")) {
    throw new Error(
      `Could not find package ${id} locally or via download from ${
        from ?? publisher
      }: ${answer.body}`,
    );
  }
  for (;;) {
    const apis = await listApis(url) as { ApisResponse?: { apis?: string[] } };
    if (apis.ApisResponse?.apis?.includes(id)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The package's API files (name -> text), unpacked into KIT_CACHE/<id>-api. */
export async function getApi(
  url: string,
  id: string,
  from?: string,
  first = true,
): Promise<{ dir: string; files: Record<string, string> }> {
  const [pkg, publisher] = splitPackageId(id);
  const answer = await request(
    url,
    appStore("main", { GetApi: { package_name: pkg, publisher_node: publisher } }),
  );
  if (!answer.blob) {
    if (first && answer.body.includes("Failure")) {
      await download(url, id, from);
      return await getApi(url, id, from, false);
    }
    throw new Error(JSON.stringify(JSON.parse(answer.body), null, 2));
  }
  const dir = `${KIT_CACHE}/${id}-api`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [name, data] of Object.entries(unzipSync(answer.blob))) {
    if (name.endsWith("/") || name.includes("..")) continue;
    await Deno.mkdir(`${dir}/${name}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeFile(`${dir}/${name}`, data);
    if (name.endsWith(".wit") && !name.includes("/")) files[name] = new TextDecoder().decode(data);
  }
  return { dir, files };
}

export async function runViewApi(args: Parsed): Promise<void> {
  const v = args.values;
  const url = nodeUrl(portValue("port", v.port as string));
  const id = v.PACKAGE_ID as string | undefined;
  if (id === undefined) {
    console.log(JSON.stringify(await listApis(url), null, 2));
    return;
  }
  const { dir, files } = await getApi(url, id, v["download-from"] as string | undefined);
  for (const [name, text] of Object.entries(files).sort()) console.log(`${dir}/${name}\n\n${text}`);
}
