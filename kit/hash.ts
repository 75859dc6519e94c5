// A light helper kit's verbs share: start-package hashes a zip without loading the build's
// tools (rolldown, componentize-js take most of a second to import).

/** Lowercase hex SHA-256 of `data` (text as UTF-8). */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}
