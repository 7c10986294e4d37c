//! Errors as values a caller can branch on: every non-2xx answer of the API
//! becomes a `PayrailError` with the stable `code` of the document's
//! `ErrorCode`, never a bare status or a parsed-by-hand body.
import type { components } from "./schema.js";

export type ErrorCode = components["schemas"]["ErrorCode"];

/** An error answer of the API: `{"error": {"code", "message"}}`, its status and request id. */
export class PayrailError extends Error {
  override readonly name = "PayrailError";
  constructor(
    /** HTTP status of the answer. */
    readonly status: number,
    /** The machine code: branch on this, not on `message`. */
    readonly code: ErrorCode,
    message: string,
    /** The `x-request-id` the server answered with: quote it when asking about a request. */
    readonly requestId: string | null,
    /** `Retry-After` in seconds, when the server sent one (`rate_limited`, `overloaded`). */
    readonly retryAfter: number | null,
  ) {
    super(message);
  }

  /**
   * The error of an answer. A body that is not the documented shape (a
   * proxy's page, say) keeps its status and says so in the message, with
   * `internal` as its code: the caller still gets a typed value.
   */
  static from(response: Response, body: unknown): PayrailError {
    const detail = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const requestId = response.headers.get("x-request-id");
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    if (detail && typeof detail.code === "string" && typeof detail.message === "string") {
      return new PayrailError(response.status, detail.code as ErrorCode, detail.message, requestId, retryAfter);
    }
    return new PayrailError(response.status, "internal", `HTTP ${response.status} without an error body`, requestId, retryAfter);
  }
}

/** `waitUntilTerminal` ran out of time: the payment was still in `lastStatus`. */
export class PayrailTimeoutError extends Error {
  override readonly name = "PayrailTimeoutError";
  constructor(
    readonly id: string,
    readonly lastStatus: string,
    timeoutMs: number,
  ) {
    super(`${id} still ${lastStatus} after ${timeoutMs} ms`);
  }
}

/** Seconds of a `Retry-After` header in its delta-seconds form (the only one payrail sends). */
export function parseRetryAfter(value: string | null): number | null {
  if (value === null || !/^[0-9]+$/.test(value.trim())) return null;
  return Number(value.trim());
}
