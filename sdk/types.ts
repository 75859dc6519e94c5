// The SDK's type vocabulary: a value describes one WIT type, how its serde JSON
// looks (what a Rust hyperapp reads and writes), its TypeScript type, and how to
// check an incoming JSON value against it. A TS value is its serde JSON value:
//
//   t.bool, t.string, t.char          JSON boolean / string
//   t.u8 ... t.u64, t.s8 ... t.s64     JSON number (integers; 64-bit ones exact to 2^53)
//   t.f32, t.f64                       JSON number
//   t.list(T)                          JSON array
//   t.option(T)                        null or the value
//   t.result(T, E)                     {"Ok": T} or {"Err": E}; t.unit for `_`
//   t.tuple(A, B, ...)                 JSON array of that length
//   t.address                          "node@process:package:publisher" (process_lib's Address)
//   t.record("name", {field: T})       JSON object; keys are the field names as written
//   t.variant("name", {Case: T|null})  "Case" (no value) or {"Case": value}
//   t.enumeration("name", [Case...])   "Case"
//
// Records, variants and enums are named types: WIT gets a definition for each
// (names in kebab-case), the generated TS client an interface / union type.

/** One WIT type: its WIT and TS spelling, its checker and the named types it uses. */
export interface Type<T = unknown> {
  readonly kind: string;
  /** The WIT type expression, e.g. `list<u8>` or a named type's kebab name. */
  readonly wit: string;
  /** The TypeScript type expression, e.g. `number[]` or a named type's PascalCase name. */
  readonly ts: string;
  /** Checks a JSON value (serde's shape) and returns it as T; throws TypeMismatch. */
  read(v: unknown, at?: string): T;
  /** The named types (records, variants, enums) this type refers to, directly or not. */
  named(): NamedType[];
  /** Phantom: the TS type. */
  readonly __t?: T;
}

/** A record, variant or enum: defined once in WIT and in the TS client. */
export interface NamedType<T = unknown> extends Type<T> {
  readonly name: string;
  /** The WIT definition (`record x { ... }`), unindented. */
  witDefinition(): string;
  /** The TS definition (`export interface X { ... }` / `export type X = ...`). */
  tsDefinition(): string;
  /** The named types its fields or cases use (not itself). */
  uses(): NamedType[];
}

/** The TS type a Type describes. */
export type Infer<X> = X extends Type<infer T> ? T : never;

/** A JSON value that does not have the declared type. */
export class TypeMismatch extends Error {
  constructor(at: string, expected: string, got: unknown) {
    super(`${at || "value"}: expected ${expected}, got ${describe(got)}`);
    this.name = "TypeMismatch";
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "string") return `"${v.length > 40 ? v.slice(0, 40) + "..." : v}"`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object key in TS source: bare when it is an identifier. */
function tsKey(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k);
}

function sub(at: string, key: string | number): string {
  return typeof key === "number" ? `${at}[${key}]` : at ? `${at}.${key}` : key;
}

// ---------------------------------------------------------------------------
// Names

const WIT_KEYWORDS = new Set([
  "as",
  "async",
  "bool",
  "borrow",
  "char",
  "constructor",
  "enum",
  "export",
  "f32",
  "f64",
  "flags",
  "from",
  "func",
  "future",
  "import",
  "include",
  "interface",
  "list",
  "option",
  "own",
  "package",
  "record",
  "resource",
  "result",
  "s8",
  "s16",
  "s32",
  "s64",
  "static",
  "stream",
  "string",
  "tuple",
  "type",
  "u8",
  "u16",
  "u32",
  "u64",
  "use",
  "variant",
  "with",
  "world",
]);

/** snake_case, camelCase or PascalCase -> kebab-case (kit's rule: `_` -> `-`, else split on capitals). */
export function kebab(name: string): string {
  if (name.includes("_")) return name.replaceAll("_", "-").toLowerCase();
  return name.replace(/[A-Z]/g, (c, i) => (i > 0 ? "-" : "") + c.toLowerCase());
}

/** A kebab name as a WIT identifier (`%` before keywords); throws if it cannot be one. */
export function witIdent(name: string): string {
  const k = kebab(name);
  if (!/^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/.test(k)) {
    throw new Error(
      `"${name}" cannot be a WIT name: use letters and digits, words separated by _ or capitals, ` +
        "each word starting with a letter",
    );
  }
  return WIT_KEYWORDS.has(k) ? `%${k}` : k;
}

/** snake_case or camelCase -> PascalCase: hyperapp's variant name for a method. */
export function pascal(name: string): string {
  return name.split("_").filter((p) => p).map((p) => p[0].toUpperCase() + p.slice(1)).join("");
}

// ---------------------------------------------------------------------------
// Primitives

function prim<T>(
  kind: string,
  ts: string,
  check: (v: unknown) => boolean,
  expected: string,
): Type<T> {
  return {
    kind,
    wit: kind,
    ts,
    read(v: unknown, at = "") {
      if (!check(v)) throw new TypeMismatch(at, expected, v);
      return v as T;
    },
    named: () => [],
  };
}

function int(kind: string, min: number, max: number): Type<number> {
  return prim<number>(
    kind,
    "number",
    (v) => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max,
    `${kind} (an integer in ${min}..=${max})`,
  );
}

const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);

function list<T>(item: Type<T>): Type<T[]> {
  return {
    kind: "list",
    wit: `list<${item.wit}>`,
    ts: `${wrap(item.ts)}[]`,
    read(v, at = "") {
      if (!Array.isArray(v)) throw new TypeMismatch(at, this.wit, v);
      return v.map((x, i) => item.read(x, sub(at, i)));
    },
    named: () => item.named(),
  };
}

/** Parenthesizes a union before `[]`. */
function wrap(ts: string): string {
  return /[|&]/.test(ts) ? `(${ts})` : ts;
}

function option<T>(inner: Type<T>): Type<T | null> {
  return {
    kind: "option",
    wit: `option<${inner.wit}>`,
    ts: `${inner.ts} | null`,
    read(v, at = "") {
      return v === null || v === undefined ? null : inner.read(v, at);
    },
    named: () => inner.named(),
  };
}

/** `_` inside result<...>: the unit type, JSON null. */
const unit: Type<null> = {
  kind: "unit",
  wit: "_",
  ts: "null",
  read(v, at = "") {
    if (v !== null) throw new TypeMismatch(at, "null (unit)", v);
    return null;
  },
  named: () => [],
};

export type Result<T, E> = { Ok: T } | { Err: E };

/** result<T, E>: the Ok and Err types are kept (the TS client unwraps Ok). */
export interface ResultType<T, E> extends Type<Result<T, E>> {
  readonly ok: Type<T>;
  readonly err: Type<E>;
}

function result<T, E>(ok: Type<T>, err: Type<E>): ResultType<T, E> {
  const o = ok.kind === "unit" ? "_" : ok.wit;
  const e = err.kind === "unit" ? "_" : err.wit;
  const wit = o === "_" && e === "_" ? "result" : e === "_" ? `result<${o}>` : `result<${o}, ${e}>`;
  return {
    kind: "result",
    ok,
    err,
    wit,
    ts: `{ Ok: ${ok.ts} } | { Err: ${err.ts} }`,
    read(v, at = "") {
      if (!isPlainObject(v) || Object.keys(v).length !== 1) {
        throw new TypeMismatch(at, `${wit} ({"Ok": ...} or {"Err": ...})`, v);
      }
      if ("Ok" in v) return { Ok: ok.read(v.Ok, sub(at, "Ok")) };
      if ("Err" in v) return { Err: err.read(v.Err, sub(at, "Err")) };
      throw new TypeMismatch(at, `${wit} ({"Ok": ...} or {"Err": ...})`, v);
    },
    named: () => [...ok.named(), ...err.named()],
  };
}

type TupleOf<A extends readonly Type[]> = { -readonly [K in keyof A]: Infer<A[K]> };

function tuple<const A extends readonly Type[]>(...items: A): Type<TupleOf<A>> {
  return {
    kind: "tuple",
    wit: `tuple<${items.map((i) => i.wit).join(", ")}>`,
    ts: `[${items.map((i) => i.ts).join(", ")}]`,
    read(v, at = "") {
      if (!Array.isArray(v) || v.length !== items.length) throw new TypeMismatch(at, this.wit, v);
      return items.map((t, i) => t.read(v[i], sub(at, i))) as TupleOf<A>;
    },
    named: () => items.flatMap((i) => i.named()),
  };
}

const ADDRESS = /^[^@:]+@[^@:]+:[^@:]+:[^@:]+$/;

// ---------------------------------------------------------------------------
// Named types

type Fields = Record<string, Type>;
type RecordOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

function named<T>(
  kind: string,
  name: string,
  parts: Type[],
  def: Omit<NamedType<T>, "kind" | "name" | "wit" | "ts" | "named" | "uses">,
): NamedType<T> {
  const wit = witIdent(name);
  const self: NamedType<T> = {
    kind,
    name,
    wit,
    ts: pascal(kebab(name).replaceAll("-", "_")),
    ...def,
    uses: () => parts.flatMap((p) => p.named()),
    named: () => [...self.uses(), self],
  };
  return self;
}

function record<const F extends Fields>(name: string, fields: F): NamedType<RecordOf<F>> {
  const entries = Object.entries(fields);
  for (const [k] of entries) witIdent(k);
  return named<RecordOf<F>>("record", name, entries.map(([, t]) => t), {
    read(v, at = "") {
      if (!isPlainObject(v)) throw new TypeMismatch(at, `record ${name} (an object)`, v);
      const out: Record<string, unknown> = {};
      for (const [k, t] of entries) {
        // serde reads a missing Option field as None
        if (!(k in v) && t.kind !== "option") {
          throw new TypeMismatch(sub(at, k), `${t.wit} (missing field)`, undefined);
        }
        out[k] = t.read(v[k], sub(at, k));
      }
      return out as RecordOf<F>;
    },
    witDefinition: () =>
      entries.length === 0
        ? `record ${witIdent(name)} {}`
        : `record ${witIdent(name)} {\n${
          entries.map(([k, t]) => `    ${witIdent(k)}: ${t.wit}`).join(",\n")
        }\n}`,
    tsDefinition: () =>
      `export interface ${pascal(kebab(name).replaceAll("-", "_"))} {\n${
        entries.map(([k, t]) => `  ${tsKey(k)}: ${t.ts};`).join("\n")
      }\n}`,
  });
}

type Cases = Record<string, Type | null>;
type VariantOf<C extends Cases> = {
  [K in keyof C]: C[K] extends Type ? { [P in K]: Infer<C[K]> } : K;
}[keyof C];

function variant<const C extends Cases>(name: string, cases: C): NamedType<VariantOf<C>> {
  const entries = Object.entries(cases);
  for (const [k] of entries) witIdent(k);
  const expected = `variant ${name} (${entries.map(([k]) => k).join(" | ")})`;
  return named<VariantOf<C>>("variant", name, entries.flatMap(([, t]) => t ? [t] : []), {
    read(v, at = "") {
      if (typeof v === "string") {
        const c = entries.find(([k]) => k === v);
        if (c && c[1] === null) return v as VariantOf<C>;
        throw new TypeMismatch(at, expected, v);
      }
      if (isPlainObject(v) && Object.keys(v).length === 1) {
        const [k] = Object.keys(v);
        const c = entries.find(([n]) => n === k);
        if (c && c[1] !== null) return { [k]: c[1].read(v[k], sub(at, k)) } as VariantOf<C>;
        if (c && v[k] === null) return k as VariantOf<C>; // serde reads {"Unit": null} too
      }
      throw new TypeMismatch(at, expected, v);
    },
    witDefinition: () =>
      `variant ${witIdent(name)} {\n${
        entries.map(([k, t]) => `    ${witIdent(k)}${t ? `(${t.wit})` : ""}`).join(",\n")
      }\n}`,
    tsDefinition: () =>
      `export type ${pascal(kebab(name).replaceAll("-", "_"))} =\n${
        entries.map(([k, t]) => `  | ${t ? `{ ${tsKey(k)}: ${t.ts} }` : JSON.stringify(k)}`)
          .join("\n")
      };`,
  });
}

function enumeration<const C extends readonly string[]>(
  name: string,
  cases: C,
): NamedType<C[number]> {
  for (const k of cases) witIdent(k);
  return named<C[number]>("enum", name, [], {
    read(v, at = "") {
      if (typeof v !== "string" || !cases.includes(v)) {
        throw new TypeMismatch(at, `enum ${name} (${cases.join(" | ")})`, v);
      }
      return v;
    },
    witDefinition: () =>
      `enum ${witIdent(name)} {\n${cases.map((k) => `    ${witIdent(k)}`).join(",\n")}\n}`,
    tsDefinition: () =>
      `export type ${pascal(kebab(name).replaceAll("-", "_"))} = ${
        cases.map((k) => JSON.stringify(k)).join(" | ")
      };`,
  });
}

/** The named types `types` use, each once, every one after the types it uses. */
export function namedInOrder(types: Type[]): NamedType[] {
  const out: NamedType[] = [];
  const seen = new Map<string, NamedType>();
  const visit = (n: NamedType, path: string[]) => {
    const prior = seen.get(n.name);
    if (prior) {
      if (prior !== n && prior.witDefinition() !== n.witDefinition()) {
        throw new Error(`two different types are both named "${n.name}"`);
      }
      return;
    }
    if (path.includes(n.name)) throw new Error(`type ${n.name} refers to itself`);
    for (const u of n.uses()) visit(u, [...path, n.name]);
    seen.set(n.name, n);
    out.push(n);
  };
  for (const t of types) for (const n of t.named()) visit(n, []);
  return out;
}

/** The type vocabulary. */
export const t = {
  bool: prim<boolean>("bool", "boolean", (v) => typeof v === "boolean", "bool"),
  string: prim<string>("string", "string", (v) => typeof v === "string", "string"),
  char: prim<string>(
    "char",
    "string",
    (v) => typeof v === "string" && [...v].length === 1,
    "char (one character)",
  ),
  u8: int("u8", 0, 0xff),
  u16: int("u16", 0, 0xffff),
  u32: int("u32", 0, 0xffffffff),
  u64: int("u64", 0, Number.MAX_SAFE_INTEGER),
  s8: int("s8", -0x80, 0x7f),
  s16: int("s16", -0x8000, 0x7fff),
  s32: int("s32", -0x80000000, 0x7fffffff),
  s64: int("s64", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  f32: prim<number>("f32", "number", num, "f32"),
  f64: prim<number>("f64", "number", num, "f64"),
  address: prim<string>(
    "address",
    "string",
    (v) => typeof v === "string" && ADDRESS.test(v),
    'address ("node@process:package:publisher")',
  ),
  unit,
  list,
  option,
  result,
  tuple,
  record,
  variant,
  enumeration,
};
