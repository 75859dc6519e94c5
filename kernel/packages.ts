// Installing packages in kit's layout (pkg/manifest.json, pkg/scripts.json and the process
// files), one machinery for every install path: bootNode's installPackage and the distro
// (a package directory on disk) and main:app-store:sys (a package zip it unzipped into its
// own drive), through the packages:distro:sys runtime module below.
//
// An install is atomic. Everything that can be checked is checked before anything is
// touched: the manifest and scripts.json, every capability the manifest asks for (it must
// be well formed, and on the app store's path name a process that exists and have been
// approved), and every process file loaded as the kernel will load it (a component
// transpiled, a TS/JS module imported in a Worker without permissions). Only then is the
// package's pkg drive swapped for the new one and its processes replaced: the old ones
// are killed without revoking what they granted, the new ones initialized, granted their
// capabilities and run. If any step fails the old drive and the old processes (with their
// capabilities, on-exit and public flag) come back, and the error says why. Process state
// (set_state) is keyed by process id, so the old version keeps it either way.
//
// This file is the entry; the machinery is split by concern under kernel/packages/:
//   manifest.ts        pkg/manifest.json: process entries, capability entries and their
//                      names, InstallError
//   scripts.ts         pkg/scripts.json
//   probe.ts           loading a process file as the kernel will, before anything is replaced
//   port.ts            what the installer needs of the kernel (KernelPort)
//   disk.ts            what installs keep on disk (.installs/, pending grants)
//   install.ts         the install and its rollback, uninstall, installPackage (a directory)
//   runtime_module.ts  packages:distro:sys, the install machinery for main:app-store:sys

export {
  capabilityName,
  InstallError,
  type ManifestEntry,
  readManifest,
} from "./packages/manifest.ts";
export { readScriptsJson, type ScriptEntry } from "./packages/scripts.ts";
export { type KernelPort, kernelPort } from "./packages/port.ts";
export {
  type InstallContext,
  type InstallOptions,
  installPackage,
  type InstallResult,
  installStaged,
  uninstallPackage,
} from "./packages/install.ts";
export { createPackagesModule, PACKAGES_PROCESS_ID } from "./packages/runtime_module.ts";
