// CPU time of this process's threads, from Linux's /proc (utime + stime, in 100 Hz ticks):
// steadier than wall-clock figures on a shared machine. The benches group the threads as they
// need: the main thread (the kernel's), process and echo Workers ("worker-N"), V8's helpers.

export interface ThreadCpu {
  /** the thread's name (comm): "deno" for the main thread, "worker-3", "V8 DefaultWorke" */
  name: string;
  /** whether it is the main thread (the kernel's) */
  main: boolean;
  /** CPU microseconds used so far */
  us: number;
}

/** Every thread's CPU so far; empty without /proc. */
export function threadCpu(): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync("/proc/self/task");
  } catch {
    return out;
  }
  for (const e of tasks) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/self/task/${e.name}/stat`);
    } catch {
      continue; // the thread ended
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.push({
      name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
      main: e.name === String(Deno.pid),
      us: (Number(f[11]) + Number(f[12])) * 10_000,
    });
  }
  return out;
}
