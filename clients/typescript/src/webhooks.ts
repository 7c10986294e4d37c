//! Webhook verification, as the server signs (payment-app/src/webhooks/sign.rs):
//! `Payrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
//! one `v1=` per secret that still signs (two or more during a rotation).
//! The receiver checks the raw bytes, before any JSON parsing: a body
//! re-serialized by a framework would not match.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { components } from "./schema.js";

type Schemas = components["schemas"];

/**
 * An event with `data` narrowed by its `type`. The document says `data` is a
 * payment or a refund, but not that `payment.*` events carry the payment and
 * `refund.*` ones the refund (OpenAPI has no way to tie one field's value to
 * another's schema without a discriminator property inside `data`); this
 * type says it, from the document's own `EventType`.
 */
export type WebhookEvent =
  | (Omit<Schemas["Event"], "type" | "data"> & {
      type: Extract<Schemas["EventType"], `payment.${string}`>;
      data: Schemas["Payment"];
    })
  | (Omit<Schemas["Event"], "type" | "data"> & {
      type: Extract<Schemas["EventType"], `refund.${string}`>;
      data: Schemas["Refund"];
    });

export type VerificationFailure = "malformed_header" | "stale_timestamp" | "signature_mismatch" | "malformed_body";

/** A delivery that must not be trusted; `reason` says which check refused it. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly reason: VerificationFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifyOptions {
  /** Largest difference between the signature's time and now, in seconds (default 300). */
  toleranceSecs?: number;
  /** Now, in unix seconds (tests). */
  now?: number;
}

/**
 * The event of a delivery whose signature is good: `payload` is the raw body,
 * `signatureHeader` the `Payrail-Signature` value, `secrets` the endpoint's
 * secret, or several while a rotation is under way (any that matches any
 * `v1=` is enough). Throws `WebhookVerificationError` for a header that does
 * not parse, a timestamp outside the tolerance (a replay), or no match.
 */
export function verifyWebhook(
  payload: Uint8Array | string,
  signatureHeader: string,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): WebhookEvent {
  const tolerance = options.toleranceSecs ?? 300;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of signatureHeader.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const [key, value] = [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    if (key === "t") timestamp = value;
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || !/^[0-9]+$/.test(timestamp) || signatures.length === 0) {
    throw new WebhookVerificationError("malformed_header", "Payrail-Signature has no t= or no v1=");
  }
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    throw new WebhookVerificationError("stale_timestamp", `signed at ${timestamp}, more than ${tolerance} s from now`);
  }
  const keys = typeof secrets === "string" ? [secrets] : secrets;
  const matches = keys.some((secret) => {
    const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest();
    return signatures.some((signature) => timingSafeEqual(expected, signature));
  });
  if (!matches) {
    throw new WebhookVerificationError("signature_mismatch", "no v1= signature matches a secret");
  }
  try {
    return JSON.parse(body.toString("utf8")) as WebhookEvent;
  } catch {
    throw new WebhookVerificationError("malformed_body", "signed body is not JSON");
  }
}
