// Which queries return at most one row, read from SQLite's own program for them (EXPLAIN).
// A db Worker reads such a query's rows with one all() call instead of iterate(), whose
// per-query cost is several times a point lookup's; reading row by row buys nothing there
// (the size cap and the time limit act between rows, and there is at most one).

import type { DatabaseSync } from "node:sqlite";

/** Opcodes whose P2 is a jump target, none of them a loop by itself. */
const JUMPS = new Set([
  "SeekRowid",
  "NotExists",
  "IsNull",
  "NotNull",
  "SeekGE",
  "SeekGT",
  "SeekLE",
  "SeekLT",
  "IdxGT",
  "IdxGE",
  "IdxLT",
  "IdxLE",
  "Goto",
  "If",
  "IfNot",
  "Eq",
  "Ne",
  "Lt",
  "Le",
  "Gt",
  "Ge",
]);

/** Opcodes of straight-line code: none loops, calls a subroutine or runs a coroutine. */
const BODY = new Set([
  ...JUMPS,
  "OpenRead",
  "Variable",
  "Column",
  "ResultRow",
  "Halt",
  "Integer",
  "Int64",
  "Real",
  "String8",
  "Null",
  "Copy",
  "SCopy",
  "Count",
  "Close",
  "Rowid",
  "Affinity",
  "DeferredSeek",
  "IdxRowid",
]);

/** The prologue `Init` jumps to, run once before the body: the transaction and constants. */
const PROLOGUE = new Set([
  "Transaction",
  "TableLock",
  "Integer",
  "Int64",
  "Real",
  "String8",
  "Null",
  "Goto",
]);

interface Op {
  addr: number;
  opcode: string;
  p2: number;
}

/**
 * Whether `sql` (prepared on `db`) returns at most one row, each opcode of its program run once
 * at most: the program is `Init`, straight-line code of BODY's opcodes with every jump forward
 * within it and one ResultRow at most, and a prologue of PROLOGUE's. Anything else, or a
 * program that cannot be explained, is false.
 */
export function returnsAtMostOneRow(db: DatabaseSync, sql: string): boolean {
  let program: Op[];
  try {
    program = db.prepare(`EXPLAIN ${sql}`).all() as unknown as Op[];
  } catch {
    return false;
  }
  if (program[0]?.opcode !== "Init") return false;
  const prologue = program[0].p2;
  let results = 0;
  for (let i = 1; i < program.length; i++) {
    const { addr, opcode, p2 } = program[i];
    if (addr !== i) return false;
    if (addr >= prologue) {
      // run once, from Init; its Goto goes back to the body's start
      if (!PROLOGUE.has(opcode) || (opcode === "Goto" && p2 >= prologue)) return false;
    } else {
      // forward, and within the body (the prologue jumps back to its start)
      if (!BODY.has(opcode) || (JUMPS.has(opcode) && (p2 <= addr || p2 >= prologue))) {
        return false;
      }
      if (opcode === "ResultRow" && ++results > 1) return false;
    }
  }
  return true;
}
