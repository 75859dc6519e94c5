// eth:distro:sys from a real process (a JS process module in its Worker) sending what
// hyperware_process_lib's eth::Provider sends: requests, a log subscription and its pushes,
// and config actions that need eth's root capability.

import { assertEquals } from "../assert.ts";
import { writeKitPackage } from "../kernel/helpers.ts";
import { Anvil, callEcho, CHAIN_ID, deployEcho, DEV_ACCOUNT, publicClient } from "./anvil.ts";
import { bootEthNode, eventually, withTempHome } from "./helpers.ts";

const APP = "our@app:ethapp:test.os";
const ADMIN = "our@admin:ethapp:test.os";

Deno.test("eth from a process: process_lib's bodies, pushes, root capability", async (t) => {
  const anvil = await Anvil.start();
  try {
    await withTempHome(async (root) => {
      const pkg = await writeKitPackage(root, {
        name: "ethapp",
        files: { "eth_app.js": new URL("./fixtures/eth_app.js", import.meta.url) },
        manifest: [
          {
            process_name: "app",
            process_wasm_path: "/eth_app.js",
            on_exit: "Restart",
            request_networking: false,
            request_capabilities: ["eth:distro:sys"],
            // as Hyperdrive apps do: let eth push subscription updates to us
            grant_capabilities: ["eth:distro:sys"],
            public: false,
          },
          {
            process_name: "admin",
            process_wasm_path: "/eth_app.js",
            on_exit: "Restart",
            request_networking: false,
            request_capabilities: [
              "eth:distro:sys",
              { process: "eth:distro:sys", params: { root: true } },
            ],
            grant_capabilities: ["eth:distro:sys"],
            public: false,
          },
        ],
      });
      const n = await bootEthNode(`${root}/home`, "fake.dev", {
        simulation: true,
        fakechainPort: anvil.port,
      });
      try {
        await n.node.installPackage(pkg);
        const call = async (target: string, body: unknown) => {
          const r = await n.ask(target, { op: "call", body: JSON.stringify(body) }, 15) as {
            body: string;
          };
          return JSON.parse(r.body);
        };

        await t.step("Provider::get_block_number / get_balance bodies", async () => {
          const viem = publicClient(anvil);
          assertEquals(
            await call(APP, {
              Request: { chain_id: CHAIN_ID, method: "eth_blockNumber", params: null },
            }),
            { Response: `0x${(await viem.getBlockNumber()).toString(16)}` },
          );
          const balance = await viem.getBalance({ address: DEV_ACCOUNT.address });
          assertEquals(
            await call(APP, {
              Request: {
                chain_id: CHAIN_ID,
                method: "eth_getBalance",
                params: [DEV_ACCOUNT.address, "latest"],
              },
            }),
            { Response: `0x${balance.toString(16)}` },
          );
        });

        await t.step("Provider::subscribe, then pushes as requests to the process", async () => {
          const echo = await deployEcho(anvil);
          // process_lib sends Params::Logs(filter): the filter object itself
          assertEquals(
            await call(APP, {
              SubscribeLogs: {
                sub_id: 1,
                chain_id: CHAIN_ID,
                kind: "logs",
                params: { address: echo },
              },
            }),
            "Ok",
          );
          await callEcho(anvil, echo, "0x77");
          const pushes = await eventually(async () => {
            const p = await n.ask(APP, { op: "pushes" }) as string[];
            return p.length > 0 ? p : undefined;
          });
          const push = JSON.parse(pushes[0]);
          assertEquals(push.Ok.id, 1);
          assertEquals(push.Ok.result.data, "0x77");
          assertEquals(push.Ok.result.address, echo);
          assertEquals(await call(APP, { UnsubscribeLogs: 1 }), "Ok");
        });

        await t.step("config actions: root capability needed", async () => {
          assertEquals(await call(APP, "GetAccessSettings"), "PermissionDenied");
          assertEquals(await call(ADMIN, "SetPublic"), "Ok");
          assertEquals(await call(ADMIN, "GetAccessSettings"), {
            AccessSettings: { public: true, allow: [], deny: [] },
          });
        });
      } finally {
        await n.node.shutdown();
      }
    });
  } finally {
    await anvil.stop();
  }
});
