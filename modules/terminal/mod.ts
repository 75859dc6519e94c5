// terminal:terminal:sys, minimal: prints the UTF-8 body of every request it
// gets. (The full terminal app with its scripts is a later package.)

import { TERMINAL_PROCESS_ID, textDecoder } from "../../wire/core.ts";
import type { RuntimeModule, RuntimeModuleContext } from "../../kernel/module.ts";

export function createTerminalModule(): RuntimeModule {
  let ctx: RuntimeModuleContext;
  return {
    processId: TERMINAL_PROCESS_ID,
    public: true,
    start(c) {
      ctx = c;
    },
    handleMessage(km) {
      if (km.message.tag !== "request") return;
      const text = textDecoder.decode(km.message.val.body);
      ctx.print(0, text);
    },
  };
}
