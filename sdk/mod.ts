// hyperdeno's app SDK: the hyperapp experience in TypeScript. An app is defined
// with hyperapp({...}) and its methods; the same module runs as a process module
// and builds into a component (sdk/build.ts). See docs/sdk.md.

export {
  api,
  type AppConfig,
  CallError,
  type CallOptions,
  type Client,
  type Endpoint,
  err,
  type HttpMethod,
  HyperApp,
  hyperapp,
  type MethodSpec,
  ok,
  type SaveOption,
  type WsMessage,
} from "./app.ts";
export type { Context, HttpInfo } from "./runtime.ts";
export { type Infer, type Result, t, type Type } from "./types.ts";
