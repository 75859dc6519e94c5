// What the runtime console (console/) needs from the kernel, and nothing more.
// As in Hyperdrive, the console is not a process: it hands each entered line
// to the kernel as a Request from terminal:terminal:sys to terminal:terminal:sys
// (the userspace terminal package parses and runs it), flips the kernel's debug
// switches (./debug.ts), and stops scripts it shows live (top --watch).

import {
  type KernelMessage,
  type ProcessId,
  randomU64,
  TERMINAL_PROCESS_ID,
} from "../wire/core.ts";

/** The console as the node sees it: it gets every print, and the kernel's port once booted. */
export interface RuntimeConsole {
  /** Every print, unfiltered: the console applies the (live) verbosity settings itself. */
  print(level: number, text: string, source: ProcessId): void;
  /** The kernel exists (called once, before it boots). */
  attach(port: ConsolePort): void;
  /** The global verbosity the console filters prints by. */
  readonly verbosity: number;
  /** Sets it (a KernelCommand SetVerbosity: settings' verbosity control). */
  setVerbosity(level: number): void;
}

/** The kernel's side of the console. */
export interface ConsolePort {
  /** This node's name. */
  readonly our: string;
  /** An entered line, to terminal:terminal:sys from terminal:terminal:sys. */
  enterLine(line: string): void;
  /** Print every event of the event loop at verbosity 3 (Hyperdrive's ToggleEventLoop). */
  setEventLoop(on: boolean): void;
  /** Print the events of one process ("proc:pkg:pub"). */
  setEventLoopFor(pid: string, on: boolean): void;
  /** Step-through mode: each message waits in the loop for step(). */
  setStepping(on: boolean): void;
  /** Lets the next waiting message through. */
  step(): void;
  /** Kills a process ("proc:pkg:pub") as KernelCommand KillProcess does; false if none. */
  kill(pid: string): boolean;
  /** Called once when the kernel shuts down (however it was asked to). */
  onShutdown(f: () => void): void;
}

/** Builds the request the console enters (the kernel routes it). */
export function terminalLine(our: string, line: string): KernelMessage {
  const terminal = { node: our, process: TERMINAL_PROCESS_ID };
  return {
    id: randomU64(),
    source: terminal,
    target: terminal,
    message: {
      tag: "request",
      val: {
        inherit: false,
        expectsResponse: undefined,
        body: new TextEncoder().encode(line),
        metadata: undefined,
        capabilities: [],
      },
    },
  };
}
