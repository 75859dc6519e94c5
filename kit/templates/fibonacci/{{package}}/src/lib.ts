// {{package}}: kit's fibonacci template written with hyperdeno's TypeScript SDK. Its API is
// kit's (api/{{package}}:{{publisher}}-v0.wit):
//
//   {"Number": 10}        -> {"Number": 55}
//   {"Numbers": [10, 5]}  -> {"Numbers": [55, 5]}  (computed 5 times; the mean time printed)
//
// Answers are JSON numbers, exact up to fibonacci(78) (2^53); kit's Rust computes up to 93.
import { hyperapp, t } from "hyperdeno/sdk";

const Response = t.variant("response", {
  Number: t.u64,
  Numbers: t.tuple(t.u64, t.u32),
});

/** The nth Fibonacci number. */
function fibonacci(n: number): number {
  if (n === 0) return 0;
  let [a, b] = [0, 1];
  for (let i = 1; i < n; i++) [a, b] = [b, a + b];
  return b;
}

export const app = hyperapp({
  name: "Fibonacci",
  save: "Never",
  homepage: false,
  state: () => ({}),
})
  .init((cx) => cx.print("begin", 1))
  .method(
    "number",
    { remote: true, local: true, args: { number: t.u32 }, returns: Response },
    (cx, { number }) => {
      const start = performance.now();
      const result = fibonacci(number);
      const ns = Math.round((performance.now() - start) * 1e6);
      cx.print(`fibonacci(${number}) = ${result}; ${ns}ns`);
      return { Number: result };
    },
  )
  .method(
    "numbers",
    { remote: true, local: true, args: { number: t.u32, trials: t.u32 }, returns: Response },
    (cx, { number, trials }) => {
      const durations: number[] = [];
      for (let i = 0; i < trials; i++) {
        const start = performance.now();
        fibonacci(number);
        durations.push((performance.now() - start) * 1e6);
      }
      const result = fibonacci(number);
      const mean = durations.reduce((s, d) => s + d, 0) / Math.max(trials, 1);
      const deviation = durations.reduce((s, d) => s + Math.abs(d - mean), 0) / Math.max(trials, 1);
      cx.print(
        `fibonacci(${number}) = ${result}; ${Math.round(mean)}±${
          Math.round(deviation)
        }ns averaged over ${trials} trials`,
      );
      return { Numbers: [result, trials] as [number, number] };
    },
  );

export const init = app.main;
