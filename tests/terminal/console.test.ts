// The runtime console in a real pseudo-terminal (tmux, Debian's): the splash,
// line editing by grapheme and display width, history with Up/Down and
// CTRL+P/CTRL+N (and across a restart), CTRL+R reverse search, CTRL+V, CTRL+W,
// CTRL+J/CTRL+S, CTRL+L and the log files, a pasted line over the limit,
// bytes that are not UTF-8, top --watch refreshed in place (Esc stops it),
// CTRL+C / CTRL+D, and SIGINT, SIGTERM, SIGHUP, SIGQUIT.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { withTempDir } from "../kernel/helpers.ts";
import { assertStringIncludes, hasTmux, sleep, TmuxNode, until } from "./harness.ts";

const PROMPT = "fake.dev > ";

Deno.test({
  name: "console: editing, history, search, verbosity, debug and logging keys in a terminal",
  ignore: !hasTmux,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const home = `${root}/home`;
      const t = await TmuxNode.start(home, [], { cols: 120, rows: 40 });
      try {
        const splash = await t.all();
        assertMatch(splash, / fake\.dev \(direct\)\n/);
        assertMatch(splash, / runtime version 0\.1\.0 \(hyperdeno\)\n/);
        assertMatch(splash, / networking pubkey 0x[0-9a-f]{64}\n/);
        assertStringIncludes(splash, ` home directory at ${home}\n`);

        // line editing: CTRL+A / CTRL+E, Left/Right, Backspace/Delete, wide characters
        await t.type("echo bcd");
        await t.keys("C-a");
        await t.type("X");
        await t.keys("C-e");
        await t.type("Y");
        await t.keys("Left", "Left", "BSpace", "Delete");
        await until(async () => (await t.inputLine()) === `${PROMPT}Xecho bY`, "edited line");
        assertEquals(await t.cursorX(), PROMPT.length + 7);
        await t.keys("C-a");
        for (let i = 0; i < 8; i++) await t.keys("Delete");
        await until(async () => (await t.inputLine()) === PROMPT.trimEnd(), "empty line");

        // 日本語: 2 columns each; é (e + a combining accent) one grapheme of 1; 👍 one of 2
        await t.type("echo 日本語 e\u0301👍!");
        await until(
          async () => (await t.cursorX()) === PROMPT.length + 5 + 6 + 1 + 1 + 2 + 1,
          "cursor after wide text",
        );
        await t.keys("Left", "Left");
        await until(
          async () => (await t.cursorX()) === PROMPT.length + 5 + 6 + 1 + 1,
          "cursor back over the emoji",
        );
        await t.keys("BSpace"); // the whole é, accent and all
        await t.keys("Enter");
        await t.waitFor(/terminal:sys: 日本語 👍!\n/, "the edited unicode line echoed");

        // history: Up/Down, CTRL+P/CTRL+N, the line being typed comes back
        await t.line("echo first");
        await t.waitFor(/terminal:sys: first\n/);
        await t.line("echo second");
        await t.waitFor(/terminal:sys: second\n/);
        await t.type("draft");
        await t.keys("Up");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo second`, "Up");
        await t.keys("C-p");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo first`, "CTRL+P");
        await t.keys("C-n");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo second`, "CTRL+N");
        await t.keys("Down");
        await until(async () => (await t.inputLine()) === `${PROMPT}draft`, "Down to the draft");
        await t.keys("C-a");
        for (let i = 0; i < 5; i++) await t.keys("Delete");

        // CTRL+R: the newest match, again for the next one, CTRL+G cancels, Enter runs it
        await t.keys("C-r");
        await t.type("echo");
        await until(async () => (await t.inputLine()) === "fake.dev *echo second", "search");
        await t.keys("C-r");
        await until(async () => (await t.inputLine()) === "fake.dev *echo first", "search again");
        await t.keys("C-g");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo`, "search cancelled");
        await t.type("zzz");
        await t.keys("C-r");
        await until(async () => (await t.inputLine()) === "fake.dev *echozzz: no results", "none");
        await t.keys("C-g", "BSpace", "BSpace", "BSpace", "C-r", "C-r", "Enter");
        await until(
          async () => (await t.all()).split("terminal:sys: first\n").length === 3,
          "the found line run",
        );

        // CTRL+V: through the modes; at 3 the event loop shows
        await t.keys("C-v");
        await t.waitFor(/verbose mode: debug\n/);
        await t.keys("C-v");
        await t.waitFor(/verbose mode: super-debug\n/);
        await t.keys("C-v");
        await t.waitFor(/verbose mode: event loop \(no logging\)\n/);
        await t.line("echo looped");
        await t.waitFor(
          / {4}target: fake\.dev@terminal:terminal:sys,\n(.*\n)* {8}body: echo looped,\n/,
        );
        await t.keys("C-v");
        await t.waitFor(/verbose mode: event loop\n/);
        await t.keys("C-v");
        await t.waitFor(/verbose mode: off\n/);

        // CTRL+W: per-process verbosity, live
        await t.keys("C-w");
        await t.waitForScreen(/=== Process Verbosity Mode ===\nOverall verbosity: off\n/);
        await t.waitForScreen(/\(none set\)/);
        await t.type("hello:hello:sys 1");
        await t.keys("Enter");
        await t.type("terminal:terminal:sys muted");
        await t.keys("Enter");
        await t.waitForScreen(/hello:hello:sys: 1\n/);
        await t.waitForScreen(/terminal:terminal:sys: muted\n/);
        await t.waitForScreen(/Press CTRL\+W to exit/);
        await t.keys("C-w");
        await until(async () => (await t.inputLine()) === PROMPT.trimEnd(), "back from CTRL+W");
        // the terminal is muted now: its prints do not show
        await t.line("echo hidden");
        await sleep(1500);
        assert(!(await t.all()).includes("terminal:sys: hidden"), "a muted process printed");
        await t.keys("C-w");
        await t.type("terminal:terminal:sys");
        await t.keys("Enter");
        await t.waitForScreen(/hello:hello:sys: 1\n/);
        await t.keys("C-w");

        // CTRL+J / CTRL+S: messages wait in the loop until stepped
        await t.keys("C-j");
        await t.waitFor(/debug mode on: use CTRL\+S to step through events\n/);
        await t.line("echo stepped");
        await sleep(1500);
        assert(!(await t.all()).includes("terminal:sys: stepped"), "ran while held");
        for (let i = 0; i < 3; i++) await t.keys("C-s");
        await sleep(500);
        assert(!(await t.all()).includes("terminal:sys: stepped"), "ran after 3 steps");
        await t.keys("C-j");
        await t.waitFor(/debug mode off\n/);
        await t.waitFor(/terminal:sys: stepped\n/, "the held line ran");

        // CTRL+L: logging off and on; the log has every print, with its time
        await t.keys("C-l");
        await t.waitFor(/logging mode: off\n/);
        await t.line("echo unlogged");
        await t.waitFor(/terminal:sys: unlogged\n/);
        await t.keys("C-l");
        await t.waitFor(/logging mode: on\n/);
        await t.line("echo logged");
        await t.waitFor(/terminal:sys: logged\n/);
        const log = await until(async () => {
          const text = await readLogs(home);
          return text.includes("terminal:sys: logged") ? text : undefined;
        }, "the log");
        assertMatch(
          log,
          /^\[\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\] terminal:sys: first$/m,
        );
        assert(!log.includes("unlogged"), "logged while logging was off");

        // bad input: bytes that are not UTF-8, a paste over the limit
        await t.bytes("ff", "fe");
        await t.waitFor(/console: 2 input byte\(s\) were not valid UTF-8; ignored\n/);
        await t.paste("x".repeat(70 * 1024));
        await t.waitFor(
          /console: a paste of 71680 bytes is over the 65536-byte line limit; nothing pasted\n/,
        );
        await t.paste("echo pasted\nline");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo pastedline`, "a paste");
        await t.keys("Enter");
        await t.waitFor(/terminal:sys: pastedline\n/);

        // CTRL+D ends the node gracefully
        await t.keys("C-d");
        await t.waitFor(/exit code received\n(.*\n)*graceful exit\n/);
        await t.waitExit();
        await t.closeWindow();

        // history survives a restart
        await t.launch();
        await t.keys("Up");
        await until(async () => (await t.inputLine()) === `${PROMPT}echo pastedline`, "history");
        const history = await Deno.readTextFile(`${home}/.terminal_history`);
        assertStringIncludes(history, "echo first\necho second\n");
      } finally {
        await t.stop();
      }
    });
  },
});

Deno.test({
  name: "console: top --watch refreshes in place; Esc stops it; signals end the node",
  ignore: !hasTmux,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withTempDir(async (root) => {
      const home = `${root}/home`;
      const t = await TmuxNode.start(home, ["--max-log-size", "3000", "--number-log-files", "2"], {
        cols: 130,
        rows: 40,
      });
      try {
        await t.line("top --watch");
        const first = await t.waitForScreen(
          /top --watch {2}fake\.dev {2}\d+ processes {2}(\d\d:\d\d:\d\d)/,
        );
        await t.waitForScreen(/\nPROCESS +WAIT +IN\/s +OUT\/s +IN +OUT +P50 ms +P99 ms +HEAP\n/);
        // refreshed in place: a new time, and still one panel on the screen
        await until(
          async () => {
            const m = (await t.screen()).match(
              /top --watch {2}fake\.dev {2}\d+ processes {2}(\d\d:\d\d:\d\d)/g,
            );
            return m && m.length === 1 && !m[0].endsWith(first[1]);
          },
          "a refreshed frame",
          10_000,
        );
        // prints go above the panel while it refreshes
        await t.line("echo above");
        await t.waitForScreen(/terminal:sys: above\n(.*\n)*top --watch/);
        const panel = (await t.screen()).match(/\n(\d+):terminal:sys +\d+/);
        assert(panel, "the watch script in its own table");
        await t.keys("Escape");
        await until(async () => !(await t.screen()).includes("top --watch  fake.dev"), "closed");
        await t.line(`top ${panel[1]}:terminal:sys`);
        await t.waitFor(new RegExp(`process ${panel[1]}:terminal:sys not running\n`), "stopped");

        // log rotation: --max-log-size 3000 over 2 files
        for (let i = 0; i < 6; i++) await t.line(`echo ${"r".repeat(400)} ${i}`);
        await t.waitFor(/r{400} 5\n/);
        await until(() => {
          const files = [...Deno.readDirSync(`${home}/.terminal_logs`)];
          return files.length === 2 ? files : undefined;
        }, "two log files");

        // signals: each ends the node cleanly, with its name; -l: nothing is logged
        for (const sig of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as Deno.Signal[]) {
          Deno.kill(t.pid, sig);
          await t.waitFor(new RegExp(`exiting due to ${sig}\n`), sig);
          await t.waitExit();
          await t.closeWindow();
          if (sig === "SIGQUIT") break;
          await t.launch(["-l"]);
          await t.line(`echo unlogged-${sig}`);
          await t.waitFor(new RegExp(`terminal:sys: unlogged-${sig}\n`));
        }
        assert(!(await readLogs(home)).includes("unlogged-"), "logged with -l");
      } finally {
        await t.stop();
      }
    });
  },
});

async function readLogs(home: string): Promise<string> {
  let text = "";
  try {
    for (const e of Deno.readDirSync(`${home}/.terminal_logs`)) {
      text += await Deno.readTextFile(`${home}/.terminal_logs/${e.name}`);
    }
  } catch { /* none yet */ }
  return text;
}
