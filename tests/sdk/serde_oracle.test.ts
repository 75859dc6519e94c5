// The SDK's wire against what serde_json itself writes and reads, not against
// hand-written JSON: a small Rust program (kept out of this repo) declared the
// request enum hyperapp_macro derives for the counter example's methods (a unit
// variant for no argument, a newtype for one, a tuple variant for several: see
// hyperapp-macro's generate_enum_variant), kit's caller-utils bodies (json! with
// null / the argument / a tuple) and process_lib's SendError, Message and
// Capability (Address as its display string), and printed serde_json's output and
// verdicts. Built offline with Debian's librust-serde-json-dev 1.0.87 and
// librust-serde-derive-dev 1.0.152.

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { decodeCall, encodeCall, Malformed, methodDef, sendErrorBody } from "../../sdk/wire.ts";
import { t } from "../../sdk/types.ts";

const Mood = t.enumeration("mood", ["Happy", "Grumpy"]);
const Note = t.record("note", { from: t.address, text: t.string, mood: Mood });
const METHODS = [
  methodDef("increment", { remote: true, args: { amount: t.u32 }, returns: t.u64 }),
  methodDef("get_count", { remote: true, returns: t.u64 }),
  methodDef("leave", {
    remote: true,
    args: { text: t.string, mood: Mood },
    returns: t.result(t.u32, t.string),
  }),
  methodDef("notes", { local: true, returns: t.list(Note) }),
  methodDef("bump_peer", { local: true, args: { target: t.address, amount: t.u32 } }),
];
const [increment, getCount, leave, notes, bumpPeer] = METHODS;

// serde_json::json! bodies, as kit's generated caller-utils stubs build them
const CALLER_BODIES: [unknown, string][] = [
  [encodeCall(increment, { amount: 2 }), '{"Increment":2}'],
  [encodeCall(getCount), '{"GetCount":null}'],
  [encodeCall(leave, { text: "hi", mood: "Grumpy" }), '{"Leave":["hi","Grumpy"]}'],
  [
    encodeCall(bumpPeer, { target: "bob.os@counter:counter:template.os", amount: 5 }),
    '{"BumpPeer":["bob.os@counter:counter:template.os",5]}',
  ],
];

// serde_json::from_str::<HPMRequest>: Ok (variant) or Err
const SERDE_READS: [string, string | null][] = [
  ['{"Increment":2}', "Increment"],
  ['{"GetCount":null}', "GetCount"],
  ['"GetCount"', "GetCount"],
  ['{"GetCount":[]}', null], // invalid type: sequence, expected unit
  ['{"GetCount":{}}', null], // invalid type: map, expected unit
  ['{"Leave":["hi","Grumpy"]}', "Leave"],
  ['{"BumpPeer":["a@b:c:d",5]}', "BumpPeer"],
  ['{"Notes":null}', "Notes"],
  ['{"Increment":"x"}', null], // invalid type: string "x", expected u32
  ['{"Increment":[2]}', null], // invalid type: sequence, expected u32
  ['{"Leave":["hi"]}', null], // invalid length 1, expected tuple variant with 2 elements
];

// serde_json::to_string of the return values
const ANSWERS: [unknown, string][] = [
  [8, "8"],
  [null, "null"], // ()
  [{ Ok: 1 }, '{"Ok":1}'],
  [{ Err: "empty note" }, '{"Err":"empty note"}'],
  [
    [{ from: "alice.os@relay:relay:test.os", text: "from relay", mood: "Grumpy" }],
    '[{"from":"alice.os@relay:relay:test.os","text":"from relay","mood":"Grumpy"}]',
  ],
];

// serde_json::to_string(&SendError { kind: Timeout, target, message: Request {...}, .. })
const SEND_ERROR = '{"kind":"Timeout","target":"fake.dev@kernel:distro:sys","message":' +
  '{"Request":{"source":"fake.dev@kernel:distro:sys","expects_response":10,' +
  '"body":[123,34,78,111,112,101,34,58,49,125],"metadata":null,' +
  '"capabilities":[{"issuer":"fake.dev@a:b:c","params":"\\"x\\""}]}},' +
  '"lazy_load_blob":null,"context":null}';

Deno.test("sdk wire: calls are written as kit's caller-utils write them", () => {
  for (const [body, serde] of CALLER_BODIES) assertEquals(JSON.stringify(body), serde);
});

Deno.test("sdk wire: calls are read as serde reads hyperapp's request enum", () => {
  for (const [json, variant] of SERDE_READS) {
    let got: string | null;
    try {
      got = decodeCall(METHODS, JSON.parse(json)).def.variant;
    } catch (e) {
      assert(e instanceof Malformed, `${json}: ${e}`);
      got = null;
    }
    assertEquals(got, variant, json);
  }
  assertEquals(decodeCall(METHODS, JSON.parse('{"Leave":["hi","Grumpy"]}')).args, {
    text: "hi",
    mood: "Grumpy",
  });
  const bad = (() => {
    try {
      decodeCall(METHODS, { Leave: ["hi", "Sad"] });
    } catch (e) {
      return (e as Error).message;
    }
  })();
  assertMatch(bad ?? "", /Leave: mood: expected enum mood/);
});

Deno.test("sdk wire: answers are the return value's serde JSON, and read back", () => {
  for (const [value, serde] of ANSWERS) assertEquals(JSON.stringify(value), serde);
  assertEquals(getCount.returns!.read(JSON.parse("8")), 8);
  assertEquals(leave.returns!.read(JSON.parse('{"Err":"empty note"}')), { Err: "empty note" });
  assertEquals(notes.returns!.read(JSON.parse(ANSWERS[4][1])), ANSWERS[4][0]);
});

Deno.test("sdk wire: a refused call is answered with process_lib's SendError JSON", () => {
  const body = sendErrorBody({
    source: "fake.dev@kernel:distro:sys",
    expectsResponse: 10n,
    body: new TextEncoder().encode('{"Nope":1}'),
    metadata: undefined,
    capabilities: [{ issuer: "fake.dev@a:b:c", params: '"x"' }],
  });
  assertEquals(JSON.stringify(body), SEND_ERROR);
});
