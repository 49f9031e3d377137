/**
 * A `Policy` guards calls to an unreliable dependency (a database, a broker,
 * an HTTP service) with three layers, applied from the inside out:
 *
 * 1. **Retry** — errors whose `isRetryable` is true are retried with
 *    exponential backoff (optionally jittered), up to `maxAttempts` attempts
 *    and `maxElapsed` time. Other errors are not retried.
 * 2. **Timeout** — bounds the whole call, retries included: the caller never
 *    waits longer than `timeout`.
 * 3. **Circuit breaker** — Effect's `CircuitBreaker` (`effect/persistence`)
 *    sees one outcome per call, as its documentation advises (retries and
 *    timeout inside it). When it is open, calls are rejected at once without
 *    running anything, so a dead dependency costs nothing.
 *
 * Whatever goes wrong comes out as one `PolicyError` whose `reason` is
 * `Timeout`, `Unavailable` (retries exhausted or a non-retryable error, the
 * original kept as `cause`) or `CircuitOpen`. Every outcome and breaker
 * transition is a metric (see `Metrics`), and every transition a log line.
 *
 * ```ts
 * const policy = yield* Policy.make({
 *   name: "claims-db",
 *   timeout: "5 seconds",
 *   retry: { base: "50 millis", maxAttempts: 4, jitter: true },
 *   breaker: { trip: { _tag: "consecutive", failures: 5 }, openDuration: "10 seconds" }
 * })
 * const rows = yield* policy.run(query)
 * ```
 *
 * @since 0.1.0
 */
import { type Cause, Clock, Duration, Effect, type Layer, Metric, Schedule, type Scope, Stream } from "effect"
import { CircuitBreaker } from "effect/persistence"
import * as Metrics from "./Metrics.ts"
import { CircuitOpen, isRetryable, PolicyError, Timeout, Unavailable } from "./PolicyError.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** Delay before the first retry. */
  readonly base: Duration.Input
  /** Growth of the delay per retry; 2 by default. */
  readonly factor?: number | undefined
  /** Attempts in all, the first one included. */
  readonly maxAttempts: number
  /** Stop retrying once this much time has passed since the first attempt. */
  readonly maxElapsed?: Duration.Input | undefined
  /** Multiply each delay by a random factor in [0.8, 1.2]; true by default. */
  readonly jitter?: boolean | undefined
}

/**
 * When the breaker opens: after `failures` failures in a row, or when the
 * failure rate over the last `size` calls reaches `threshold` (0..1) with at
 * least `minimumCalls` calls seen.
 *
 * @since 0.1.0
 * @category models
 */
export type TripPolicy =
  | { readonly _tag: "consecutive"; readonly failures: number }
  | { readonly _tag: "rate"; readonly threshold: number; readonly minimumCalls: number; readonly size: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface BreakerOptions {
  readonly trip: TripPolicy
  /** How long the circuit stays open before letting one probe call through. */
  readonly openDuration: Duration.Input
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the policy in errors, logs, metrics and the breaker's key. */
  readonly name: string
  readonly timeout?: Duration.Input | undefined
  readonly retry?: RetryOptions | undefined
  readonly breaker?: BreakerOptions | undefined
}

/**
 * The breaker state as health checks and dashboards show it.
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerState = "closed" | "half-open" | "open" | "none"

/**
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly name: string
  /** Runs `effect` under the policy. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, PolicyError, R>
  /** The breaker's current state; `"none"` when the policy has no breaker. */
  readonly breakerState: Effect.Effect<BreakerState>
}

/**
 * Makes a policy whose breaker keeps its state in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Policy, never, Scope.Scope> =>
  makeWithStore(options).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))

/**
 * Makes a policy whose breaker uses the `CircuitBreakerStore` in context, e.g.
 * `CircuitBreaker.layerStoreRedis()` to share one circuit between processes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWithStore = (
  options: Options
): Effect.Effect<Policy, never, Scope.Scope | CircuitBreaker.CircuitBreakerStore> =>
  Effect.gen(function* () {
    const name = options.name
    const attributes = { policy: name }
    const calls = (outcome: string) => Metric.withAttributes(Metrics.policyCalls, { policy: name, outcome })
    const retries = Metric.withAttributes(Metrics.policyRetries, attributes)
    const latency = Metric.withAttributes(Metrics.policyLatency, attributes)
    const stateGauge = Metric.withAttributes(Metrics.breakerState, attributes)
    const schedule = options.retry === undefined ? undefined : retrySchedule(options.retry)
    const timeout = options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)

    const breaker = options.breaker === undefined ? undefined : yield* makeBreaker(name, options.breaker)
    if (breaker !== undefined) {
      yield* Metric.update(stateGauge, 0)
      yield* breaker.transitions.pipe(
        Stream.runForEach((t) =>
          Effect.andThen(
            Effect.all([
              Metric.update(stateGauge, gaugeValue[t.to]),
              Metric.update(
                Metrics.breakerTransitions.pipe(Metric.withAttributes({ policy: name, from: t.from, to: t.to })),
                1
              )
            ]),
            (t.to === "Open" ? Effect.logWarning : Effect.logInfo)(`circuit ${t.from} -> ${t.to}`).pipe(
              Effect.annotateLogs({ policy: name, key: t.key, from: t.from, to: t.to })
            )
          )
        ),
        // Subscribe before any call can publish a transition.
        Effect.forkScoped({ startImmediately: true })
      )
    }

    const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, PolicyError, R> =>
      Effect.suspend(() => {
        let attempts = 0
        const attempt = Effect.suspend(() => {
          attempts++
          return effect
        })
        const retried: Effect.Effect<A, E, R> =
          schedule === undefined
            ? attempt
            : Effect.retry(attempt, { schedule, while: (error: E) => isRetryable(error) })
        let guarded: Effect.Effect<A, PolicyError, R> = Effect.mapError(
          retried,
          (cause) =>
            new PolicyError({
              reason: new Unavailable({ operation: name, attempts, retryable: isRetryable(cause), cause })
            })
        )
        if (timeout !== undefined) {
          guarded = Effect.timeoutOrElse(guarded, {
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new PolicyError({ reason: new Timeout({ operation: name, timeoutMillis: Duration.toMillis(timeout) }) })
              )
          })
        }
        if (breaker !== undefined) {
          guarded = breaker.execute(guarded, { key: name }).pipe(
            Effect.catchTag("CircuitBreakerError", (error) =>
              Effect.fail(
                new PolicyError({
                  reason: new CircuitOpen({
                    operation: name,
                    retryAfterMillis:
                      error.reason._tag === "CircuitOpen" ? Duration.toMillis(error.reason.retryAfter) : 0
                  })
                })
              )
            )
          )
        }
        return Effect.flatMap(Clock.currentTimeMillis, (start) =>
          Effect.onExit(guarded, (exit) =>
            Effect.flatMap(Clock.currentTimeMillis, (end) =>
              Effect.all(
                [
                  Metric.update(calls(exit._tag === "Success" ? "success" : outcomeOf(exit.cause)), 1),
                  Metric.update(latency, end - start),
                  attempts > 1 ? Metric.update(retries, attempts - 1) : Effect.void
                ],
                { discard: true }
              )
            )
          )
        )
      })

    const breakerState: Effect.Effect<BreakerState> =
      breaker === undefined
        ? Effect.succeed("none")
        : breaker.state(name).pipe(
            Effect.map(
              (s): BreakerState => (s._tag === "Closed" ? "closed" : s._tag === "Open" ? "open" : "half-open")
            ),
            // The memory store does not fail; a shared store that does is reported as unknown-but-closed.
            Effect.orElseSucceed((): BreakerState => "closed")
          )

    return { name, run, breakerState } satisfies Policy
  })

/**
 * A policy that runs effects unguarded, for tests and for callers that opt out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none = (name: string): Policy => ({
  name,
  run: (effect) =>
    Effect.mapError(
      effect,
      (cause) =>
        new PolicyError({
          reason: new Unavailable({ operation: name, attempts: 1, retryable: isRetryable(cause), cause })
        })
    ),
  breakerState: Effect.succeed("none")
})

/**
 * Runs `effect` under `policy` (pipeable form of `policy.run`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const run =
  (policy: Policy) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, PolicyError, R> =>
    policy.run(effect)

/**
 * The schedule a policy retries with: exponential from `base`, optionally
 * jittered, bounded by attempts and elapsed time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retrySchedule = (options: RetryOptions): Schedule.Schedule<unknown> => {
  const exponential = Schedule.exponential(options.base, options.factor ?? 2)
  const jittered = (options.jitter ?? true) ? Schedule.jittered(exponential) : exponential
  const retries = Math.max(0, options.maxAttempts - 1)
  return options.maxElapsed === undefined
    ? Schedule.upTo(jittered, { times: retries })
    : Schedule.upTo(jittered, { times: retries, duration: options.maxElapsed })
}

const gaugeValue = { Closed: 0, HalfOpen: 1, Open: 2 } as const

const outcomeOf = (cause: Cause.Cause<PolicyError>): string => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail") {
      const tag = reason.error.reason._tag
      return tag === "Timeout" ? "timeout" : tag === "CircuitOpen" ? "circuit_open" : "unavailable"
    }
  }
  return "interrupted"
}

const makeBreaker = (name: string, options: BreakerOptions) =>
  CircuitBreaker.make({
    tripPolicy:
      options.trip._tag === "consecutive"
        ? CircuitBreaker.consecutive(options.trip.failures)
        : CircuitBreaker.rate({
            threshold: options.trip.threshold,
            minimumCalls: options.trip.minimumCalls,
            size: options.trip.size
          }),
    openDuration: options.openDuration
  }).pipe(Effect.annotateLogs({ policy: name }))

/**
 * A layer that provides the in-memory breaker store explicitly, for code that
 * builds several policies with `makeWithStore`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreMemory: Layer.Layer<CircuitBreaker.CircuitBreakerStore> = CircuitBreaker.layerStoreMemory()
