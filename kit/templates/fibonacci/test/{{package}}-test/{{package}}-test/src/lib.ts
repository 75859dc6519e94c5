// {{package}}-test: kit's fibonacci test: Number and Numbers for 0, 1, 2, 5, 10, 20, 30, 47.
import { call, fail, serveTests } from "hyperdeno/tester";

const FIBONACCI = "{{package}}:{{package}}:{{publisher}}";
const NUMBERS = [0, 1, 2, 5, 10, 20, 30, 47];
const EXPECTED = [0, 1, 1, 5, 55, 6_765, 832_040, 2_971_215_073];

export function init(_our: string): void {
  serveTests("{{package}}_test", ({ our, nodes }) => {
    if (nodes.length !== 1) fail("{{package}}_test", "runs on one node");
    const target = `${our.node}@${FIBONACCI}`;
    NUMBERS.forEach((n, i) => {
      const one = call(target, { Number: n }) as { Number?: number };
      if (one.Number !== EXPECTED[i]) {
        fail("{{package}}_test", `Number(${n}): ${JSON.stringify(one)}`);
      }
      const many = call(target, { Numbers: [n, 5] }) as { Numbers?: [number, number] };
      if (many.Numbers?.[0] !== EXPECTED[i]) {
        fail("{{package}}_test", `Numbers(${n}, 5): ${JSON.stringify(many)}`);
      }
    });
  });
}
