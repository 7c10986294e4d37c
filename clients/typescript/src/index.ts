//! payrail's TypeScript client: see README.md.
export * from "./client.js";
export * from "./errors.js";
export * from "./webhooks.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export type { components, operations, paths } from "./schema.js";
