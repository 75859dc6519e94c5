// The type vocabulary (sdk/types.ts): what each type reads from serde JSON, its
// WIT and TS spellings, and an app using every type generating WIT a real parser
// accepts.

import { componentWitMetadataForWorld } from "@bytecodealliance/jco-transpile";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { namedInOrder, t, type Type, TypeMismatch } from "../../sdk/types.ts";
import { loadApp } from "../../sdk/build.ts";
import { generateClient, generateWit, generateWorlds } from "../../sdk/generate.ts";
import { withTempDir } from "../kernel/helpers.ts";

function refuses(type: Type, v: unknown): boolean {
  try {
    type.read(v);
    return false;
  } catch (e) {
    assert(e instanceof TypeMismatch, String(e));
    return true;
  }
}

const Shape = t.variant("shape", { Dot: null, Circle: t.f64, Line: t.tuple(t.s32, t.s32) });
const Point = t.record("point", { x: t.s64, label: t.option(t.string) });

Deno.test("sdk types: serde's JSON in, checked", () => {
  assertEquals(t.u8.read(255), 255);
  assert(refuses(t.u8, 256) && refuses(t.u8, 1.5) && refuses(t.u8, "1"));
  assert(refuses(t.s8, -129) && !refuses(t.s8, -128));
  assert(refuses(t.u64, -1) && refuses(t.u64, 2 ** 60));
  assert(refuses(t.char, "ab") && !refuses(t.char, "é"));
  assertEquals(t.option(t.u8).read(null), null);
  assertEquals(t.option(t.u8).read(undefined), null);
  assertEquals(t.list(t.bool).read([true, false]), [true, false]);
  assert(refuses(t.tuple(t.u8, t.string), [1]));
  assertEquals(t.result(t.unit, t.string).read({ Ok: null }), { Ok: null });
  assert(refuses(t.result(t.u8, t.string), { Ok: 1, Err: "x" }));
  // serde's externally tagged enum: a unit case is "Name" (or {"Name": null}), others {"Name": v}
  assertEquals(Shape.read("Dot"), "Dot");
  assertEquals(Shape.read({ Dot: null }), "Dot");
  assertEquals(Shape.read({ Circle: 2.5 }), { Circle: 2.5 });
  assertEquals(Shape.read({ Line: [1, -2] }), { Line: [1, -2] });
  assert(refuses(Shape, "Circle") && refuses(Shape, { Square: 1 }));
  // a missing Option field is None, as serde reads it; other fields are required
  assertEquals(Point.read({ x: 1 }), { x: 1, label: null });
  assert(refuses(Point, { label: "a" }));
  assertEquals(t.address.read("a.os@p:k:pub.os"), "a.os@p:k:pub.os");
  assert(refuses(t.address, "a.os@p:k"));
  const e = (() => {
    try {
      t.list(Point).read([{ x: 1 }, { x: "2" }]);
    } catch (e) {
      return (e as Error).message;
    }
  })();
  assertEquals(
    e,
    '[1].x: expected s64 (an integer in -9007199254740991..=9007199254740991), got "2"',
  );
});

Deno.test("sdk types: WIT and TS spellings, named types in dependency order", () => {
  assertEquals(t.result(t.unit, t.string).wit, "result<_, string>");
  assertEquals(t.result(t.u8, t.unit).wit, "result<u8>");
  assertEquals(t.result(t.unit, t.unit).wit, "result");
  assertEquals(t.list(t.option(t.u8)).ts, "(number | null)[]");
  assertEquals(
    Shape.witDefinition(),
    "variant shape {\n    dot,\n    circle(f64),\n    line(tuple<s32, s32>)\n}",
  );
  assertEquals(
    Shape.tsDefinition(),
    'export type Shape =\n  | "Dot"\n  | { Circle: number }\n  | { Line: [number, number] };',
  );
  const Wrapper = t.record("type", { shape: Shape, points: t.list(Point) });
  assertEquals(Wrapper.wit, "%type"); // a WIT keyword, escaped
  assertEquals(namedInOrder([Wrapper]).map((n) => n.name), ["shape", "point", "type"]);
});

Deno.test("sdk types: an app using every type generates WIT that parses, and a client", async () => {
  const sdk = new URL("../../sdk/mod.ts", import.meta.url).pathname;
  const std = new URL("../../kernel/process_host/hyperware.wit", import.meta.url).pathname;
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/all.ts`,
      `import { hyperapp, t } from "${sdk}";
const Shape = t.variant("shape", { Dot: null, Circle: t.f64, Line: t.tuple(t.s32, t.s32) });
const Mode = t.enumeration("mode", ["Fast", "Slow"]);
const Point = t.record("point", { x: t.s64, label: t.option(t.string), mode: Mode });
export const app = hyperapp({ name: "AllTypes", state: () => ({}), endpoints: [{ http: "/api" }] })
  .method("everything", {
    remote: true,
    http: true,
    args: {
      a: t.bool, b: t.u8, c: t.u16, d: t.u32, e: t.u64, f: t.s8, g: t.s16, h: t.s32, i: t.s64,
      j: t.f32, k: t.f64, l: t.char, m: t.string, n: t.address, o: t.list(Point),
      p: t.option(Shape), q: t.tuple(t.u8, t.string),
    },
    returns: t.result(t.unit, t.string),
  }, () => ({ Ok: null }))
  .method("nothing", { local: true }, () => null);
export const init = app.main;
`,
    );
    const { app } = await loadApp(`${dir}/all.ts`);
    const wit = generateWit(app);
    assertMatch(wit, /interface all-types \{/);
    assertMatch(
      wit,
      /arg-types: tuple<bool, u8, u16, u32, u64, s8, s16, s32, s64, f32, f64, char, string, address, list<point>, option<shape>, tuple<u8, string>>,\n\s+returning: result<_, string>/,
    );
    assertMatch(wit, /record nothing-signature-local \{\n\s+target: address\n\s+\}/);
    const world = generateWorlds(app, "all-types-test-dot-os-v0");
    const meta = await componentWitMetadataForWorld(
      {
        tag: "source",
        val: [await Deno.readTextFile(std), wit, ...Object.values(world)].join("\n"),
      },
      "all-types-test-dot-os-v0",
    );
    assertEquals(meta.imports.length, 2);
    const client = generateClient(app, "all:all:test.os");
    assertMatch(
      client,
      /export function everything\(a: boolean, b: number,[^)]*p: Shape \| null, q: \[number, string\]\): Promise<null>/,
    );
    assert(!client.includes("nothing"), "local methods are not in the HTTP client");
  });
});
