//! The retry rule of docs/api.md, in one place. A request is sent again only
//! when the server says nothing was recorded (429 `rate_limited`, 503
//! `overloaded`, a connection that was never made), or when the outcome is
//! unknown (503 `timeout`, a connection dropped or timed out after the
//! request left) *and* a replay cannot record it twice: a read, a metadata
//! change, a delete, or a create carrying its `Idempotency-Key` (a batch whose
//! items all carry theirs). Everything else is answered as it came.
import { parseRetryAfter } from "./errors.js";

export interface RetryPolicy {
  /** Attempts in all, the first included (default 4). */
  maxAttempts: number;
  /** First backoff in milliseconds, doubled each time, with jitter (default 100). */
  baseDelayMs: number;
  /** Longest wait between attempts, a server's `Retry-After` included (default 10 000). */
  maxDelayMs: number;
  /** Each attempt's own time limit in milliseconds (default 30 000). */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 10_000, timeoutMs: 30_000 };

/** Why an attempt may be made again: nothing was recorded, or the outcome is unknown. */
type Outcome = "answered" | "not_recorded" | "unknown";

/** Errors of Node's fetch (undici) that mean the request never reached the server. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

function transportOutcome(error: unknown): Outcome {
  const e = error as { name?: string; cause?: { code?: string; name?: string } };
  if (e?.name === "TimeoutError") return "unknown";
  if (e?.name === "AbortError") return "answered"; // the caller's own abort: not ours to retry
  const code = e?.cause?.code;
  if (code && NOT_SENT.has(code)) return "not_recorded";
  // Reset, closed mid-answer, socket errors: the request may have arrived.
  if (e instanceof TypeError) return "unknown";
  return "answered";
}

async function responseOutcome(response: Response): Promise<Outcome> {
  if (response.status !== 429 && response.status !== 503) return "answered";
  const code = await response
    .clone()
    .json()
    .then((b: { error?: { code?: string } }) => b?.error?.code)
    .catch(() => undefined);
  if (response.status === 429 && code === "rate_limited" && response.headers.has("retry-after")) return "not_recorded";
  if (code === "overloaded") return "not_recorded";
  if (code === "timeout") return "unknown";
  return "answered";
}

const REPLAY_SAFE_METHODS = new Set(["GET", "HEAD", "PUT", "PATCH", "DELETE"]);

/** Whether sending `request` twice records it once: see the module comment. */
export function replaySafe(request: Request, bodyKeyed = false): boolean {
  return REPLAY_SAFE_METHODS.has(request.method) || request.headers.has("idempotency-key") || bodyKeyed;
}

function backoff(policy: RetryPolicy, attempt: number, retryAfter: number | null): number {
  if (retryAfter !== null) return Math.min(retryAfter * 1000, policy.maxDelayMs);
  const exp = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  return exp / 2 + Math.random() * (exp / 2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A `fetch` for openapi-fetch that applies the rule. `bodyKeyed` says the
 * body carries its own keys (a batch whose every item has an
 * `idempotency_key`), which the headers cannot show.
 */
export function retryingFetch(
  policy: RetryPolicy,
  inner: typeof fetch = globalThis.fetch,
  bodyKeyed = false,
): (request: Request) => Promise<Response> {
  return async (request: Request) => {
    const safe = replaySafe(request, bodyKeyed);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= policy.maxAttempts;
      const signal = request.signal
        ? AbortSignal.any([request.signal, AbortSignal.timeout(policy.timeoutMs)])
        : AbortSignal.timeout(policy.timeoutMs);
      let response: Response;
      try {
        response = await inner(new Request(request.clone(), { signal }));
      } catch (error) {
        const outcome = transportOutcome(error);
        const again = outcome === "not_recorded" || (outcome === "unknown" && safe);
        if (last || !again) throw error;
        await sleep(backoff(policy, attempt, null));
        continue;
      }
      const outcome = await responseOutcome(response);
      const again = outcome === "not_recorded" || (outcome === "unknown" && safe);
      if (last || !again) return response;
      await response.body?.cancel();
      await sleep(backoff(policy, attempt, parseRetryAfter(response.headers.get("retry-after"))));
    }
  };
}
