// The local Hypermap chain on a real anvil (loopback, a free port): deploy, the fixed addresses,
// a fake node minted and reset the way Hyperdrive's fakenet does it, read back with the ABI
// declarations Hyperdrive and process_lib use, and a second deploy.

import {
  type Address,
  decodeEventLog,
  decodeFunctionResult,
  encodeFunctionData,
  getContractAddress,
  type Hex,
  keccak256,
  type Log,
  pad,
  parseAbi,
  toHex,
  zeroAddress,
} from "viem";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  ADDRESSES,
  deployHypermap,
  erc6551RegistryAbi,
  hypermapAbi,
  mintOrResetFakeNode,
  namehash,
  OWNER,
  readNode,
  startChain,
} from "../../chain/mod.ts";
import { answersJsonRpc, rpc } from "../../chain/anvil.ts";
import { accountAbi } from "../../chain/abi.ts";
import { ERC1967_IMPLEMENTATION_SLOT } from "../../chain/addresses.ts";
import { accountProxyCreationCode, artifacts } from "../../chain/artifacts.ts";
import { clients, receiptOf } from "../../chain/client.ts";
import { PLACED_CODE } from "../../chain/deploy.ts";

// process_lib's hypermap.rs declarations of the events (names, types, indexed-ness).
const processLibAbi = parseAbi([
  "event Mint(bytes32 indexed parenthash, bytes32 indexed childhash, bytes indexed labelhash, bytes label)",
  "event Note(bytes32 indexed parenthash, bytes32 indexed notehash, bytes indexed labelhash, bytes label, bytes data)",
  "event Fact(bytes32 indexed parenthash, bytes32 indexed facthash, bytes indexed labelhash, bytes label, bytes data)",
  "event Gene(bytes32 indexed entry, address indexed gene)",
  "event Zero(address indexed zeroTba)",
  "event Transfer(address indexed from, address indexed to, uint256 indexed id)",
]);
// Hyperdrive's sol.rs declarations it boots a fake node with.
const hyperdriveAbi = parseAbi([
  "function get(bytes32 namehash) view returns (address tba, address owner, bytes data)",
  "struct Call { address target; bytes callData; }",
  "function aggregate(Call[] calls) payable returns (uint256 blockNumber, bytes[] returnData)",
  "function token() view returns (uint256, address, uint256)",
]);

const NET_KEY = `0x${"ab".repeat(32)}` as Hex;
const NET_KEY_2 = `0x${"cd".repeat(32)}` as Hex;
/** anvil's second dev account (unlocked), a stranger to every entry */
const STRANGER: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

function decodeAll(logs: Log[]) {
  return logs
    .filter((l) => l.address.toLowerCase() === ADDRESSES.hypermap.toLowerCase())
    .map((l) =>
      decodeEventLog({ abi: processLibAbi, data: l.data, topics: l.topics, strict: true })
    );
}

/** Sends from an unlocked anvil account and waits; rejects if the transaction reverts. */
async function send(url: string, from: Address, to: Address, data: Hex, what = "transaction") {
  const c = clients(url);
  return await receiptOf(c.public, await c.wallet(from).sendTransaction({ to, data }), what);
}

/** Fails the test (and stops the chain) if the body takes longer than `ms`. */
async function bounded(ms: number, body: () => Promise<void>, onTimeout: () => Promise<void>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      await onTimeout();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([body(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("chain: anvil with Hypermap deployed; fake nodes minted, reset and read as Hyperdrive does", async (t) => {
  const chain = await startChain({ port: 0 });
  const c = clients(chain.url);
  const { url } = chain;
  try {
    await bounded(120_000, async () => {
      await t.step("code is at every fixed address, the proxy points at Hypermap", async () => {
        for (const p of PLACED_CODE) {
          assertEquals(await c.public.getCode({ address: p.address }), p.code, p.name);
        }
        const slot = await c.public.getStorageAt({
          address: ADDRESSES.hypermap,
          slot: ERC1967_IMPLEMENTATION_SLOT,
        });
        assertEquals(slot, pad(ADDRESSES.hypermapImplementation.toLowerCase() as Hex));
        assertEquals(await c.public.getChainId(), 31337);
      });

      await t.step("the zeroth and .os TBAs are where kit's chain has them", async () => {
        for (
          const [name, tba, proxy, impl] of [
            ["", ADDRESSES.zerothTba, ADDRESSES.zerothAccountProxy, ADDRESSES.hyperAccount],
            ["os", ADDRESSES.dotOsTba, ADDRESSES.osAccountProxy, ADDRESSES.hyperAccountMinter],
          ] as const
        ) {
          const h = namehash(name);
          const [got, owner, data] = await c.public.readContract({
            address: ADDRESSES.hypermap,
            abi: hyperdriveAbi,
            functionName: "get",
            args: [h],
          });
          assertEquals([got, owner, data], [tba, OWNER, "0x"]);
          const computed = await c.public.readContract({
            address: ADDRESSES.erc6551Registry,
            abi: erc6551RegistryAbi,
            functionName: "account",
            args: [proxy, h, 31337n, ADDRESSES.hypermap, BigInt(h)],
          });
          assertEquals(computed, tba);
          // the account is the EIP-6551 proxy to the entry's account proxy, with its footer
          const token = await c.public.readContract({
            address: tba,
            abi: hyperdriveAbi,
            functionName: "token",
          });
          assertEquals(token, [31337n, ADDRESSES.hypermap, BigInt(h)]);
          const implementation = await c.public.getStorageAt({
            address: tba,
            slot: ERC1967_IMPLEMENTATION_SLOT,
          });
          assertEquals(implementation, pad(impl.toLowerCase() as Hex));
        }
      });

      let mintBlock = 0n;
      await t.step(
        "mint a fake node: notes read back, Mint and Note decode with process_lib's ABI",
        async () => {
          const minted = await mintOrResetFakeNode({
            url,
            name: "fake.os",
            wsPort: 9000,
            netKey: NET_KEY,
          });
          assertEquals(minted.reset, false);
          const h = namehash("fake.os");
          // a new entry's TBA: the registry's account for the AccountProxy Hypermap deployed with CREATE2
          const accountProxy = getContractAddress({
            opcode: "CREATE2",
            from: ADDRESSES.hypermap,
            salt: h,
            bytecode: accountProxyCreationCode,
          });
          assertEquals(await c.public.getCode({ address: accountProxy }), artifacts.AccountProxy);
          const expectedTba = await c.public.readContract({
            address: ADDRESSES.erc6551Registry,
            abi: erc6551RegistryAbi,
            functionName: "account",
            args: [accountProxy, h, 31337n, ADDRESSES.hypermap, BigInt(h)],
          });
          assertEquals(minted.tba, expectedTba);

          const node = await readNode(url, "fake.os");
          assert(node);
          assertEquals(node.owner, OWNER);
          assertEquals(node.ip, "127.0.0.1");
          assertEquals(node.wsPort, 9000);
          assertEquals(node.netKey, NET_KEY);
          assertEquals(node.notes, {
            "~net-key": NET_KEY,
            "~ip": "0x7f000001",
            "~ws-port": "0x2328",
          });
          assertEquals(await readNode(url, "nobody.os"), null);

          const receipt = await c.public.getTransactionReceipt({ hash: minted.txHash });
          mintBlock = receipt.blockNumber;
          const events = decodeAll(receipt.logs);
          assertEquals(events.map((e) => e.eventName), [
            "Mint",
            "Transfer",
            "Note",
            "Note",
            "Note",
            "Transfer",
          ]);
          assertEquals(events[0].args, {
            parenthash: namehash("os"),
            childhash: h,
            labelhash: keccak256(toHex("fake")),
            label: toHex("fake"),
          });
          const notes = events.filter((e) => e.eventName === "Note");
          assertEquals(
            notes.map((e) => e.args),
            [["~ip", "0x7f000001"], ["~ws-port", "0x2328"], ["~net-key", NET_KEY]].map((
              [label, data],
            ) => ({
              parenthash: h,
              notehash: namehash(`${label}.fake.os`),
              labelhash: keccak256(toHex(label)),
              label: toHex(label),
              data,
            })),
          );
          assertEquals(events[5].args, { from: ADDRESSES.hypermap, to: OWNER, id: BigInt(h) });
          // fakenet's extra 10-wei transfer mined one more block
          assertEquals(await c.public.getBlockNumber(), mintBlock + 1n);
        },
      );

      await t.step("hns-indexer's filters find the mint and the notes", async () => {
        const [mint] = processLibAbi;
        const mintTopic = keccak256(toHex("Mint(bytes32,bytes32,bytes,bytes)"));
        const noteTopic = keccak256(toHex("Note(bytes32,bytes32,bytes,bytes,bytes)"));
        assertEquals(mint.name, "Mint");
        const filter = (topics: unknown[]) =>
          rpc(url, "eth_getLogs", [{
            address: ADDRESSES.hypermap,
            fromBlock: "0x0",
            topics,
          }]) as Promise<
            Log[]
          >;
        const mints = await filter([mintTopic]);
        assertEquals(mints.map((l) => l.topics[2]), [namehash("os"), namehash("fake.os")]);
        const labels = ["~ws-port", "~tcp-port", "~net-key", "~routers", "~ip"].map((l) =>
          keccak256(toHex(l))
        );
        const notes = await filter([noteTopic, null, null, labels]);
        assertEquals(notes.length, 3);
      });

      await t.step(
        "Hyperdrive's boot read (aggregate of get calls through Multicall3) decodes",
        async () => {
          const calls = ["~ip", "~ws-port", "~net-key"].map((n) => ({
            target: ADDRESSES.hypermap,
            callData: encodeFunctionData({
              abi: hyperdriveAbi,
              functionName: "get",
              args: [namehash(`${n}.fake.os`)],
            }),
          }));
          const { data } = await c.public.call({
            to: ADDRESSES.multicall3,
            data: encodeFunctionData({
              abi: hyperdriveAbi,
              functionName: "aggregate",
              args: [calls],
            }),
          });
          const [, returned] = decodeFunctionResult({
            abi: hyperdriveAbi,
            functionName: "aggregate",
            data: data!,
          });
          const values = returned.map((r) =>
            decodeFunctionResult({ abi: hyperdriveAbi, functionName: "get", data: r })
          );
          assertEquals(values, [
            [zeroAddress, zeroAddress, "0x7f000001"],
            [zeroAddress, zeroAddress, "0x2328"],
            [zeroAddress, zeroAddress, NET_KEY],
          ]);
        },
      );

      await t.step(
        "reset an existing node: execute straight to its TBA rewrites the notes",
        async () => {
          const before = await readNode(url, "fake.os");
          const reset = await mintOrResetFakeNode({
            url,
            name: "fake.os",
            ip: "10.1.2.3",
            wsPort: 9100,
            netKey: NET_KEY_2,
            tcpPort: 9101,
          });
          assertEquals(reset.reset, true);
          assertEquals(reset.tba, before!.tba);
          const tx = await c.public.getTransaction({ hash: reset.txHash });
          assertEquals(tx.to, before!.tba.toLowerCase());
          assertEquals(tx.from, OWNER.toLowerCase());
          const events = decodeAll(
            (await c.public.getTransactionReceipt({ hash: reset.txHash })).logs,
          );
          assertEquals(events.map((e) => e.eventName), ["Note", "Note", "Note", "Note"]);
          const node = await readNode(url, "fake.os");
          assertEquals(
            [node!.ip, node!.wsPort, node!.tcpPort, node!.netKey, node!.owner],
            ["10.1.2.3", 9100, 9101, NET_KEY_2, OWNER],
          );
        },
      );

      await t.step("only the entry's owner acts through its TBA", async () => {
        const note = encodeFunctionData({
          abi: hypermapAbi,
          functionName: "note",
          args: [toHex("~ip"), "0x01020304"],
        });
        const execute = encodeFunctionData({
          abi: accountAbi,
          functionName: "execute",
          args: [ADDRESSES.hypermap, 0n, note, 0],
        });
        const tba = (await readNode(url, "fake.os"))!.tba;
        await assertRejects(() => send(url, STRANGER, tba, execute), "reverted");
        // and Hypermap takes notes only from entries' TBAs
        await assertRejects(() => send(url, OWNER, ADDRESSES.hypermap, note), "reverted");
        assertEquals((await readNode(url, "fake.os"))!.ip, "10.1.2.3");
      });

      await t.step(
        "facts are written once; a gene sets children's implementation; transfer moves control",
        async () => {
          const tba = (await readNode(url, "fake.os"))!.tba;
          const viaTba = (to: Address, call: Hex, what: string) =>
            send(
              url,
              OWNER,
              tba,
              encodeFunctionData({
                abi: accountAbi,
                functionName: "execute",
                args: [to, 0n, call, 0],
              }),
              what,
            );
          const fact = encodeFunctionData({
            abi: hypermapAbi,
            functionName: "fact",
            args: [toHex("!born"), "0x2a"],
          });
          const factReceipt = await viaTba(ADDRESSES.hypermap, fact, "fact");
          assertEquals(decodeAll(factReceipt.logs)[0].eventName, "Fact");
          await assertRejects(() => viaTba(ADDRESSES.hypermap, fact, "fact again"));
          const [, , factData] = await c.public.readContract({
            address: ADDRESSES.hypermap,
            abi: hypermapAbi,
            functionName: "get",
            args: [namehash("!born.fake.os")],
          });
          assertEquals(factData, "0x2a");

          const gene = encodeFunctionData({
            abi: hypermapAbi,
            functionName: "gene",
            args: [ADDRESSES.hyperAccountMinter],
          });
          const geneEvents = decodeAll(
            (await viaTba(ADDRESSES.hypermap, gene, "gene")).logs,
          );
          assertEquals(geneEvents.map((e) => [e.eventName, e.args]), [[
            "Gene",
            { entry: namehash("fake.os"), gene: ADDRESSES.hyperAccountMinter },
          ]]);
          const mint = encodeFunctionData({
            abi: hypermapAbi,
            functionName: "mint",
            args: [OWNER, toHex("sub"), "0x", ADDRESSES.hyperAccount],
          });
          await viaTba(ADDRESSES.hypermap, mint, "mint sub");
          const sub = await readNode(url, "sub.fake.os");
          const subImplementation = await c.public.getStorageAt({
            address: sub!.tba,
            slot: ERC1967_IMPLEMENTATION_SLOT,
          });
          assertEquals(subImplementation, pad(ADDRESSES.hyperAccountMinter.toLowerCase() as Hex));

          const id = BigInt(namehash("sub.fake.os"));
          await send(
            url,
            OWNER,
            ADDRESSES.hypermap,
            encodeFunctionData({
              abi: hypermapAbi,
              functionName: "transferFrom",
              args: [OWNER, STRANGER, id],
            }),
          );
          assertEquals((await readNode(url, "sub.fake.os"))!.owner, STRANGER);
          const subNote = encodeFunctionData({
            abi: accountAbi,
            functionName: "execute",
            args: [
              ADDRESSES.hypermap,
              0n,
              encodeFunctionData({
                abi: hypermapAbi,
                functionName: "note",
                args: [toHex("~ws-port"), "0x0001"],
              }),
              0,
            ],
          });
          await assertRejects(() => send(url, OWNER, sub!.tba, subNote), "reverted");
          await send(url, STRANGER, sub!.tba, subNote);
          assertEquals((await readNode(url, "sub.fake.os"))!.wsPort, 1);
        },
      );

      await t.step(
        "process_lib's mint with erc721Data: a contract recipient must accept",
        async () => {
          const tba = (await readNode(url, "fake.os"))!.tba;
          const mint = (who: Address, label: string) =>
            encodeFunctionData({
              abi: accountAbi,
              functionName: "execute",
              args: [
                ADDRESSES.hypermap,
                0n,
                encodeFunctionData({
                  abi: hypermapAbi,
                  functionName: "mint",
                  args: [who, toHex(label), "0x", "0x", ADDRESSES.hyperAccount],
                }),
                0,
              ],
            });
          await assertRejects(
            () => send(url, OWNER, tba, mint(ADDRESSES.multicall3, "safe")),
            "reverted",
          );
          await send(url, OWNER, tba, mint(OWNER, "safe"));
          assertEquals((await readNode(url, "safe.fake.os"))!.owner, OWNER);
        },
      );

      await t.step("a second deploy on the running chain changes nothing", async () => {
        const block = await c.public.getBlockNumber();
        const again = await deployHypermap(url);
        assertEquals(again.alreadyDeployed, true);
        assertEquals(await c.public.getBlockNumber(), block);
        // another chain on the same port is refused before anvil starts
        await assertRejects(() => startChain({ port: chain.port }), "already answers JSON-RPC");
      });

      await t.step("a deploy over different code at a fixed address is refused", async () => {
        await c.test.setCode({ address: ADDRESSES.multicall3, bytecode: "0x6000" });
        const e = await assertRejects(() => deployHypermap(url), "refusing to deploy");
        assert(e.message.includes(ADDRESSES.multicall3), e.message);
        assertEquals(await c.public.getCode({ address: ADDRESSES.multicall3 }), "0x6000");
      });
    }, () => chain.stop());
  } finally {
    await chain.stop();
  }
  assertEquals(await answersJsonRpc(url), false);
});

Deno.test("chain: initialize emits what kit's does for the zeroth entry (Transfer to Hypermap, to the owner, Zero)", async () => {
  // kept separate: a fresh chain whose first blocks are the deploy's own transactions
  const chain = await startChain({ port: 0 });
  try {
    const c = clients(chain.url);
    const block = await c.public.getBlock({ blockNumber: 1n, includeTransactions: true });
    const receipt = await c.public.getTransactionReceipt({ hash: block.transactions[0].hash });
    const events = decodeAll(receipt.logs);
    assertEquals(events.map((e) => e.eventName), ["Transfer", "Transfer", "Zero"]);
    assertEquals(events[2].args, { zeroTba: ADDRESSES.zerothTba });
  } finally {
    await chain.stop();
  }
});
