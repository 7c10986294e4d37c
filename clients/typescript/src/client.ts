//! `Payrail`: the generated calls (openapi-fetch over the types of
//! docs/openapi.json) with what every integrator would otherwise write: an
//! `Idempotency-Key` per logical request, reused by each retry; errors thrown
//! as `PayrailError`; list endpoints as async iterators; waiting for a
//! payment to settle. `client.api` is the typed openapi-fetch client itself,
//! for anything not wrapped here.
import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import { PayrailError, PayrailTimeoutError } from "./errors.js";
import { DEFAULT_RETRY, retryingFetch, type RetryPolicy } from "./retry.js";
import type { components, operations, paths } from "./schema.js";

type Schemas = components["schemas"];
export type Account = Schemas["Account"];
export type Payment = Schemas["Payment"];
export type PaymentStatus = Schemas["PaymentStatus"];
export type Refund = Schemas["Refund"];
export type Event = Schemas["Event"];
export type WebhookEndpoint = Schemas["WebhookEndpoint"];
export type DeliveryAttempt = Schemas["DeliveryAttempt"];
export type LedgerEntry = Schemas["LedgerEntry"];
export type BalanceAt = Schemas["BalanceAt"];
export type Statement = Schemas["Statement"];
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

/** Statuses a payment never leaves (docs/api.md, "Holds, captures and refunds"). */
export const TERMINAL_PAYMENT_STATUSES: readonly PaymentStatus[] = ["done", "failed", "voided", "expired"];

export interface PayrailOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8080` (no `/api/v1`). */
  baseUrl: string;
  /** A bearer token of `API_TOKENS`. */
  token: string;
  /** Retries and time limits; see `RetryPolicy`. */
  retry?: Partial<RetryPolicy>;
  /** The fetch to send with (default: the global one). */
  fetch?: typeof fetch;
}

/** Per call: the key of a create, when the caller has its own (an order id, say). */
export interface KeyOptions {
  idempotencyKey?: string;
}

export class Payrail {
  /** The generated client, with the retrying fetch; every call of it is typed by the document. */
  readonly api: Client<paths>;
  private readonly policy: RetryPolicy;
  private readonly inner: typeof fetch;

  constructor(options: PayrailOptions) {
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.inner = options.fetch ?? globalThis.fetch;
    this.api = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/$/, ""),
      headers: { Authorization: `Bearer ${options.token}` },
      fetch: retryingFetch(this.policy, this.inner),
    });
  }

  createAccount(body: Schemas["CreateAccount"] = {}, options: KeyOptions = {}): Promise<Account> {
    const key = options.idempotencyKey ?? randomUUID();
    return this.ok(this.api.POST("/api/v1/accounts", { body, params: { header: { "Idempotency-Key": key } } }));
  }

  getAccount(id: string): Promise<Account> {
    return this.ok(this.api.GET("/api/v1/accounts/{id}", { params: { path: { id } } }));
  }

  updateAccountMetadata(id: string, metadata: Schemas["MetadataPatch"]): Promise<Account> {
    return this.ok(this.api.PATCH("/api/v1/accounts/{id}", { params: { path: { id } }, body: { metadata } }));
  }

  /** Sets how far below zero the account's balance may go (a decimal string;
   * the `issue` scope). Refused with `credit_limit_below_used` below the
   * credit the account already uses. */
  setCreditLimit(id: string, creditLimit: string): Promise<Account> {
    return this.ok(
      this.api.PATCH("/api/v1/accounts/{id}", { params: { path: { id } }, body: { credit_limit: creditLimit } }),
    );
  }

  /** `GET /api/v1/ledger/head`: the head of the hash chain over the ledger, to keep and compare later. */
  getLedgerHead(): Promise<Schemas["LedgerHead"]> {
    return this.ok(this.api.GET("/api/v1/ledger/head", {}));
  }

  /** `POST /api/v1/payment`; the answer is the payment as recorded, `pending`. */
  createPayment(body: Schemas["CreatePayment"], options: KeyOptions = {}): Promise<Payment> {
    const key = options.idempotencyKey ?? randomUUID();
    return this.ok(this.api.POST("/api/v1/payment", { body, params: { header: { "Idempotency-Key": key } } }));
  }

  getPayment(id: string): Promise<Payment> {
    return this.ok(this.api.GET("/api/v1/payment/{id}", { params: { path: { id } } }));
  }

  updatePaymentMetadata(id: string, metadata: Schemas["MetadataPatch"]): Promise<Payment> {
    return this.ok(this.api.PATCH("/api/v1/payment/{id}", { params: { path: { id } }, body: { metadata } }));
  }

  /**
   * `POST /api/v1/payments/batch`. Items without an `idempotency_key` get one
   * (`<batch key>-<index>`), so a retry of the whole batch replays what was
   * recorded instead of recording it again; in an atomic batch the keys are
   * then all new, or all replays, as the server asks.
   */
  createPaymentBatch(body: Schemas["BatchRequest"], options: KeyOptions = {}): Promise<Schemas["BatchResponse"]> {
    const key = options.idempotencyKey ?? randomUUID();
    const payments = body.payments.map((item, i) => ({ ...item, idempotency_key: item.idempotency_key ?? `${key}-${i}` }));
    return this.ok(
      this.api.POST("/api/v1/payments/batch", {
        body: { ...body, payments },
        fetch: retryingFetch(this.policy, this.inner, true),
      }),
    );
  }

  /** Capture an authorization. Not keyed by the API: retried only where nothing was recorded. */
  capturePayment(id: string, body: Schemas["CaptureRequest"] = {}): Promise<Payment> {
    return this.ok(this.api.POST("/api/v1/payment/{id}/capture", { params: { path: { id } }, body }));
  }

  voidPayment(id: string): Promise<Payment> {
    return this.ok(this.api.POST("/api/v1/payment/{id}/void", { params: { path: { id } } }));
  }

  createRefund(paymentId: string, body: Schemas["CreateRefund"] = {}, options: KeyOptions = {}): Promise<Refund> {
    const key = options.idempotencyKey ?? randomUUID();
    return this.ok(
      this.api.POST("/api/v1/payment/{id}/refunds", {
        params: { path: { id: paymentId }, header: { "Idempotency-Key": key } },
        body,
      }),
    );
  }

  getRefund(id: string): Promise<Refund> {
    return this.ok(this.api.GET("/api/v1/refunds/{id}", { params: { path: { id } } }));
  }

  getEvent(id: string): Promise<Event> {
    return this.ok(this.api.GET("/api/v1/events/{id}", { params: { path: { id } } }));
  }

  createWebhookEndpoint(body: Schemas["CreateEndpoint"]): Promise<Schemas["CreatedWebhookEndpoint"]> {
    return this.ok(this.api.POST("/api/v1/webhook-endpoints", { body }));
  }

  rotateWebhookSecret(id: string): Promise<Schemas["RotatedSecret"]> {
    return this.ok(this.api.POST("/api/v1/webhook-endpoints/{id}/rotate-secret", { params: { path: { id } } }));
  }

  async deleteWebhookEndpoint(id: string): Promise<void> {
    const { error, response } = await this.api.DELETE("/api/v1/webhook-endpoints/{id}", { params: { path: { id } } });
    if (!response.ok) throw PayrailError.from(response, error);
  }

  /** Every payment that passes the filters, newest first, page after page. */
  payments(query: Omit<Query<"searchPayments">, "cursor"> = {}): AsyncGenerator<Payment> {
    return this.paged((cursor) =>
      this.ok(this.api.GET("/api/v1/payments", { params: { query: { ...query, cursor } } })).then((p) => [p.payments, p.next_cursor]),
    );
  }

  /** One account's payments, newest first. */
  accountPayments(id: string, query: Omit<Query<"listAccountPayments">, "cursor"> = {}): AsyncGenerator<Payment> {
    return this.paged((cursor) =>
      this.ok(
        this.api.GET("/api/v1/accounts/{id}/payments", { params: { path: { id }, query: { ...query, cursor } } }),
      ).then((p) => [p.payments, p.next_cursor]),
    );
  }

  accounts(query: Omit<Query<"searchAccounts">, "cursor"> = {}): AsyncGenerator<Account> {
    return this.paged((cursor) =>
      this.ok(this.api.GET("/api/v1/accounts", { params: { query: { ...query, cursor } } })).then((p) => [p.accounts, p.next_cursor]),
    );
  }

  /**
   * The account's ledger entries with the balance after each, oldest first
   * (`order: "desc"`: newest first), page after page (keyset on the entry
   * id: pages stay stable while new entries arrive).
   */
  async *accountEntries(id: string, query: Omit<Query<"listAccountEntries">, "after"> = {}): AsyncGenerator<LedgerEntry> {
    yield* this.paged<LedgerEntry, number>(async (after) => {
      const page = await this.ok(
        this.api.GET("/api/v1/accounts/{id}/entries", {
          params: { path: { id }, query: { ...query, after } },
          headers: { Accept: "application/json" },
        }),
      );
      // The route also answers CSV (`Accept: text/csv`), so its type is either.
      if (typeof page === "string") throw new TypeError("the account's entries came as CSV, not JSON");
      return [page.entries, page.next_after];
    });
  }

  /** The account's balance, held and available amounts at the instant `at` (available with today's credit limit); a `PayrailError` 404 when the account was opened after it. */
  balanceAt(id: string, at: Date | string): Promise<BalanceAt> {
    const instant = at instanceof Date ? at.toISOString() : at;
    return this.ok(this.api.GET("/api/v1/accounts/{id}/balance", { params: { path: { id }, query: { at: instant } } }));
  }

  /** Per-day totals and closing balances (UTC days; the API's default is the last 30). */
  statement(id: string, query: Query<"getAccountStatement"> = {}): Promise<Statement> {
    return this.ok(this.api.GET("/api/v1/accounts/{id}/statement", { params: { path: { id }, query } }));
  }

  webhookEndpoints(query: Omit<Query<"listWebhookEndpoints">, "cursor"> = {}): AsyncGenerator<WebhookEndpoint> {
    return this.paged((cursor) =>
      this.ok(this.api.GET("/api/v1/webhook-endpoints", { params: { query: { ...query, cursor } } })).then((p) => [
        p.webhook_endpoints,
        p.next_cursor,
      ]),
    );
  }

  deliveryAttempts(endpointId: string, query: Omit<Query<"listDeliveryAttempts">, "cursor"> = {}): AsyncGenerator<DeliveryAttempt> {
    return this.paged((cursor) =>
      this.ok(
        this.api.GET("/api/v1/webhook-endpoints/{id}/attempts", {
          params: { path: { id: endpointId }, query: { ...query, cursor } },
        }),
      ).then((p) => [p.attempts, p.next_cursor]),
    );
  }

  /**
   * The events feed in id order after `after` (from the first without it),
   * until a page comes back empty: the feed's present end. Call again with
   * the last id seen to go on (re-reading a few seconds back, see docs/api.md).
   */
  events(query: Query<"listEvents"> = {}): AsyncGenerator<Event> {
    return this.paged((after) =>
      this.ok(this.api.GET("/api/v1/events", { params: { query: { ...query, after: after ?? query.after } } })).then((p) => [
        p.events,
        p.next_after,
      ]),
    );
  }

  /**
   * The payment once it is in one of `until` (default: a terminal status),
   * polling every `intervalMs`; `PayrailTimeoutError` after `timeoutMs`.
   */
  async waitUntilTerminal(
    paymentId: string,
    timeoutMs = 30_000,
    { until = TERMINAL_PAYMENT_STATUSES, intervalMs = 100 }: { until?: readonly PaymentStatus[]; intervalMs?: number } = {},
  ): Promise<Payment> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const payment = await this.getPayment(paymentId);
      if (until.includes(payment.status)) return payment;
      if (Date.now() >= deadline) throw new PayrailTimeoutError(paymentId, payment.status, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** The refund once it is `done` or `failed`; `PayrailTimeoutError` after `timeoutMs`. */
  async waitUntilRefundTerminal(refundId: string, timeoutMs = 30_000, intervalMs = 100): Promise<Refund> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const refund = await this.getRefund(refundId);
      if (refund.status !== "pending") return refund;
      if (Date.now() >= deadline) throw new PayrailTimeoutError(refundId, refund.status, timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  private async ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    const { data, error, response } = await call;
    if (!response.ok || data === undefined) throw PayrailError.from(response, error);
    return data;
  }

  /** Pages until one is empty or has no next cursor: an id (`string`) or, for ledger entries, a number. */
  private async *paged<T, C extends string | number = string>(
    page: (cursor: C | undefined) => Promise<[T[], C | null | undefined]>,
  ): AsyncGenerator<T> {
    let cursor: C | undefined;
    for (;;) {
      const [items, next] = await page(cursor);
      yield* items;
      if (!next || items.length === 0) return;
      cursor = next;
    }
  }
}
