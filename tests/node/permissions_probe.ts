// Child for the permission-set test, run with `deno run -P=node`: prints the
// state of each permission descriptor given as JSON arguments, as one JSON line.

const states = [];
for (const arg of Deno.args) {
  const descriptor = JSON.parse(arg) as Deno.PermissionDescriptor;
  states.push((await Deno.permissions.query(descriptor)).state);
}
console.log(JSON.stringify(states));
