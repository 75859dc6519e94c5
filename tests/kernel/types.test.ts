// Address / ProcessId / PackageId parsing and display, with Hyperdrive's
// validation rules and error texts; capability keys compare params as JSON.

import { assert, assertEquals } from "../assert.ts";
import {
  AddressParseError,
  addressToString,
  capabilityKey,
  checkAddress,
  checkProcessId,
  packageIdToString,
  parseAddress,
  parsePackageId,
  parseProcessId,
  processIdToString,
} from "../../wire/core.ts";

function parseError(f: () => unknown): AddressParseError {
  try {
    f();
  } catch (e) {
    if (e instanceof AddressParseError) return e;
    throw e;
  }
  throw new Error("expected an AddressParseError");
}

Deno.test("types: parse and display round trip", () => {
  const a = parseAddress("alice.os@chat:chat-app:bob.os");
  assertEquals(a, {
    node: "alice.os",
    process: { processName: "chat", packageName: "chat-app", publisherNode: "bob.os" },
  });
  assertEquals(addressToString(a), "alice.os@chat:chat-app:bob.os");
  assertEquals(processIdToString(parseProcessId("a:b:c.os")), "a:b:c.os");
  assertEquals(packageIdToString(parsePackageId("b:c.os")), "b:c.os");
});

Deno.test("types: structural errors as Hyperdrive names them", () => {
  assertEquals(parseError(() => parseAddress("no-at-sign")).kind, "MissingNodeId");
  assertEquals(parseError(() => parseAddress("@a:b:c")).kind, "MissingNodeId");
  assertEquals(parseError(() => parseAddress("a@b@c:d:e")).kind, "TooManyAts");
  assertEquals(parseError(() => parseAddress("n@a:b")).kind, "MissingField");
  assertEquals(parseError(() => parseAddress("n@a:b:c:d")).kind, "TooManyColons");
  assertEquals(parseError(() => parseProcessId("a::c")).kind, "MissingField");
  assertEquals(parseError(() => parsePackageId("a")).kind, "MissingField");
  assertEquals(parseError(() => parsePackageId("a:b:c")).kind, "TooManyColons");
  assertEquals(
    parseError(() => parseAddress("n@a:b:c:d")).message,
    "Too many colons in ProcessId string",
  );
});

Deno.test("types: hypermap-safety checks", () => {
  const e1 = parseError(() => checkProcessId(parseProcessId("Chat:app:pub.os")));
  assertEquals(e1.kind, "ProcessNameNotHypermapSafe");
  assertEquals(e1.message, "Process name (Chat) can only contain a-z, 0-9, `-`");
  assertEquals(
    parseError(() => checkProcessId(parseProcessId("chat:my.app:pub.os"))).kind,
    "PackageNameNotHypermapSafe",
  );
  assertEquals(
    parseError(() => checkProcessId(parseProcessId("chat:app:pub_os"))).kind,
    "PublisherNodeNotHypermapSafe",
  );
  assertEquals(
    parseError(() => checkAddress(parseAddress("Alice.os@chat:app:pub.os"))).kind,
    "NodeNotHypermapSafe",
  );
  // dots allowed in node and publisher names only
  checkAddress(parseAddress("alice.os@chat-2:app-1:pub.os"));
});

Deno.test("types: capability identity compares params as JSON", () => {
  const issuer = parseAddress("our@vfs:distro:sys");
  const a = capabilityKey({ issuer, params: '{"kind":"read","drive":"/x:y/pkg"}' });
  const b = capabilityKey({ issuer, params: '{ "drive": "/x:y/pkg", "kind": "read" }' });
  const c = capabilityKey({ issuer, params: '{"kind":"write","drive":"/x:y/pkg"}' });
  assertEquals(a, b);
  assert(a !== c);
});
