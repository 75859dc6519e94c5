// hello:hello:sys, a distro process written as a TypeScript process module:
// no build step, the same standard API a component imports. It answers every
// request with a greeting and prints hellos from other nodes.
import { printToTerminal, receive, sendResponse } from "hyperware:process/standard@1.0.0";

interface ProcessAddress {
  node: string;
  process: { processName: string; packageName: string; publisherNode: string };
}

export function init(our: string): void {
  printToTerminal(1, `hello: ${our} ready`);
  const dec = new TextDecoder();
  for (;;) {
    let source: ProcessAddress;
    let message: { tag: string; val: { body: Uint8Array; expectsResponse?: bigint } };
    try {
      [source, message] = receive();
    } catch {
      continue; // a send error for a request we never made: nothing to do
    }
    if (message.tag !== "request") continue;
    const text = dec.decode(message.val.body);
    const greeting = `hello, ${source.node}! you said: ${text}`;
    if (message.val.expectsResponse === undefined) {
      printToTerminal(0, greeting);
      continue;
    }
    sendResponse({
      inherit: false,
      body: new TextEncoder().encode(greeting),
      metadata: undefined,
      capabilities: [],
    }, undefined);
  }
}
