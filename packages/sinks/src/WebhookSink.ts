/**
 * Delivers records to an HTTP endpoint as JSON `POST`s (a trigger's webhook
 * action) with Effect's HTTP client. Each attempt has its own timeout (3
 * seconds by default) so a stalled receiver is abandoned and tried again;
 * attempts run under a `Policy` (retries with backoff of what is retryable,
 * an overall timeout, a circuit breaker). Every request carries an
 * `Idempotency-Key` header from a caller-given id, so a receiver can drop the
 * duplicates that retries and replays send.
 *
 * What cannot be delivered (retries exhausted, a 4xx, the circuit open) goes
 * to a caller-given fallback, e.g. a Kafka sink for a `…-failed` topic: a
 * chunk's receipts are acknowledged once each record is delivered or handed
 * to the fallback, so nothing is lost and a failing endpoint never stops the
 * pipeline. Only a failing fallback fails the sink.
 *
 * Statuses: 2xx is delivered; 408, 429 and 5xx are retryable; any other
 * status is a rejection, not retried. Transport failures (refused, reset) are
 * retryable.
 *
 * ```ts
 * const sink = yield* WebhookSink.make({
 *   url: "http://localhost:8080/webhook",
 *   idempotencyKey: (e) => e.value.event_id,
 *   fallback: (failed) => writeToFailedTopic(failed.map(WebhookSink.toDeadLetter))
 * })
 * yield* actions.pipe(Stream.run(sink))
 * ```
 *
 * @since 0.1.0
 */
import { DeadLetter, Envelope, Policy, type PolicyError, Receipt } from "@sluice/core"
import type { Scope } from "effect"
import { Duration, Effect, Sink } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { Rejected, SinkError, Timeout, Unavailable } from "./SinkError.ts"

/**
 * The policy a webhook gets when none is given: 4 attempts from 200 ms
 * backoff within 20 seconds, and a breaker that opens after 5 failed
 * deliveries in a row for 30 seconds.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy = (name: string): Policy.Options => ({
  name,
  timeout: "20 seconds",
  retry: { base: "200 millis", maxAttempts: 4, maxElapsed: "15 seconds" },
  breaker: { trip: { _tag: "consecutive", failures: 5 }, openDuration: "30 seconds" }
})

/**
 * Where and how to post.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly url: string
  /** Extra headers on every request. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Timeout of one attempt; 3 seconds by default. */
  readonly timeout?: Duration.Input | undefined
  /** Guards each delivery; `defaultPolicy` named after the URL's host if absent. */
  readonly policy?: Policy.Policy | undefined
}

/**
 * Delivers one body; what the sink uses per record, and what a job with
 * several actions can call directly.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly url: string
  readonly policy: Policy.Policy
  /** Posts `body` as JSON with `Idempotency-Key: key`, under the policy. */
  readonly post: (body: unknown, key: string) => Effect.Effect<void, PolicyError.PolicyError>
}

const sinkName = (url: string): string => {
  try {
    return `webhook ${new URL(url).host}`
  } catch {
    return "webhook"
  }
}

const fromStatus = (sink: string, status: number): SinkError =>
  status === 408 || status === 429 || status >= 500
    ? new SinkError({ sink, reason: new Unavailable({ retryable: true, status, detail: `HTTP ${status}` }) })
    : new SinkError({ sink, reason: new Rejected({ status, detail: `HTTP ${status}` }) })

/**
 * A client posting to `options.url` with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (options: ClientOptions): Effect.Effect<Client, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const name = sinkName(options.url)
    const policy = options.policy ?? (yield* Policy.make(defaultPolicy(name)))
    const timeout = Duration.fromInputUnsafe(options.timeout ?? "3 seconds")
    const timeoutMillis = Duration.toMillis(timeout)
    const base = HttpClientRequest.post(options.url).pipe(
      HttpClientRequest.setHeaders({ ...options.headers, accept: "application/json" })
    )

    const attempt = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<void, SinkError> =>
      http.execute(request).pipe(
        Effect.mapError(
          (error) =>
            new SinkError({
              sink: name,
              reason: new Unavailable({ retryable: true, detail: error.message }),
              cause: error
            })
        ),
        Effect.flatMap((response) =>
          // Reading the body lets the connection go back to the pool.
          Effect.andThen(
            Effect.ignore(response.text),
            response.status >= 200 && response.status < 300
              ? Effect.void
              : Effect.fail(fromStatus(name, response.status))
          )
        ),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(new SinkError({ sink: name, reason: new Timeout({ timeoutMillis }) }))
        })
      )

    const post = (body: unknown, key: string): Effect.Effect<void, PolicyError.PolicyError> =>
      Effect.suspend(() => {
        let request: HttpClientRequest.HttpClientRequest
        try {
          request = base.pipe(
            HttpClientRequest.setHeader("idempotency-key", key),
            HttpClientRequest.bodyJsonUnsafe(body)
          )
        } catch (cause) {
          // A body that is not JSON (a cycle, a bigint) is refused before any attempt.
          return policy.run(
            Effect.fail(
              new SinkError({ sink: name, reason: new Rejected({ detail: `body is not JSON: ${String(cause)}` }) })
            )
          )
        }
        return policy.run(attempt(request))
      })

    return { url: options.url, policy, post }
  })

/**
 * A record that could not be delivered, with its key and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed<A> {
  readonly envelope: Envelope.Envelope<A>
  readonly body: unknown
  readonly idempotencyKey: string
  readonly error: PolicyError.PolicyError
}

/**
 * The client's options plus what the sink needs per record.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E, R> extends ClientOptions {
  /** The request body for a record; the record itself if absent. */
  readonly body?: ((value: A) => unknown) | undefined
  /** The `Idempotency-Key` of a record, stable across replays (an event id). */
  readonly idempotencyKey: (envelope: Envelope.Envelope<A>) => string
  /** Receives a chunk's undeliverable records; once it succeeds their receipts are acknowledged. */
  readonly fallback: (failed: ReadonlyArray<Failed<A>>) => Effect.Effect<void, E, R>
  /** Deliveries in flight at once within a chunk (default 8). */
  readonly concurrency?: number | undefined
}

/**
 * A sink posting each record; see the module header for what is acknowledged when.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, E = never, R = never>(
  options: Options<A, E, R>
): Effect.Effect<Sink.Sink<void, Envelope.Envelope<A>, never, E, R>, never, Scope.Scope | HttpClient.HttpClient> =>
  Effect.map(makeClient(options), (client) => {
    const toBody = options.body ?? ((value: A) => value)
    const concurrency = Math.max(1, options.concurrency ?? 8)
    return Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) =>
      Effect.gen(function* () {
        const failed: Array<Failed<A>> = []
        yield* Effect.forEach(
          chunk,
          (envelope) => {
            const body = toBody(envelope.value)
            const idempotencyKey = options.idempotencyKey(envelope)
            return client.post(body, idempotencyKey).pipe(
              Effect.catch((error) =>
                Effect.andThen(
                  // An open circuit rejects every record at once: one warning per record would flood the log.
                  (error.reason._tag === "CircuitOpen" ? Effect.logDebug : Effect.logWarning)(
                    "webhook delivery failed; handing it to the fallback"
                  ).pipe(Effect.annotateLogs({ url: client.url, key: idempotencyKey, error: error.message })),
                  Effect.sync(() => failed.push({ envelope, body, idempotencyKey, error }))
                )
              )
            )
          },
          { concurrency, discard: true }
        )
        if (failed.length > 0) yield* options.fallback(failed)
        yield* Receipt.ackAll(chunk.map((e) => e.receipt))
      }).pipe(
        Effect.withSpan(
          "sluice.sink.write",
          { kind: "client", attributes: { "url.full": client.url, "messaging.batch.message_count": chunk.length } },
          { captureStackTrace: false }
        )
      )
    )
  })

/**
 * A failed delivery as a dead letter (the JSON body, kind `webhook`, the
 * error as reason) in an envelope with the original origin, ready for a Kafka
 * sink. It carries no receipt of its own: the webhook sink acknowledges the
 * original once the fallback has succeeded.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toDeadLetter = <A>(failed: Failed<A>): Envelope.Envelope<DeadLetter.DeadLetter> =>
  Envelope.make(
    failed.envelope.origin,
    DeadLetter.make(failed.envelope.origin, JSON.stringify(failed.body) ?? null, "webhook", failed.error.message),
    Receipt.none
  )
