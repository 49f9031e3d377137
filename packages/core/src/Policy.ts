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
 * What the breaker counts: a success closes or keeps it closed; a timeout,
 * retries exhausted on a retryable error, or a defect is a failure; an error
 * that is not retryable is ignored (the dependency answered, the request was
 * at fault, so it says nothing about the dependency's health); an interrupted
 * call is ignored. The `breaker.classify` hook changes this per policy, e.g.
 * `classifyIgnoringTimeouts` for a dependency whose slow calls are expected.
 *
 * Whatever goes wrong comes out as one `PolicyError` whose `reason` is
 * `Timeout`, `Unavailable` (retries exhausted or a non-retryable error, the
 * original kept as `cause`) or `CircuitOpen`. Every outcome and breaker
 * transition is a metric (see `Metrics`), and every transition a log line.
 *
 * ```ts
 * const policy = yield* Policy.make({
 *   name: "orders-db",
 *   timeout: "5 seconds",
 *   retry: { base: "50 millis", maxAttempts: 4, jitter: true },
 *   breaker: { trip: { _tag: "consecutive", failures: 5 }, openDuration: "10 seconds" }
 * })
 * const rows = yield* policy.run(query)            // or query.pipe(Policy.run(policy))
 *
 * // the same settings from the environment: ORDERS_DB_TIMEOUT, ORDERS_DB_RETRY_ATTEMPTS, ...
 * const fromEnv = yield* Policy.makeConfig("ORDERS_DB")
 * ```
 *
 * @since 0.1.0
 */
import {
  type Cause,
  Clock,
  Config,
  Duration,
  Effect,
  Exit,
  type Layer,
  Metric,
  Schedule,
  type Scope,
  Stream
} from "effect"
import { dual } from "effect/Function"
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
  /** No retry starts later than this after the call began. */
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
 * What a failed call tells the breaker about the dependency.
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerOutcome = "failure" | "success" | "ignored"

/**
 * Decides what a failed call counts as for the breaker. Defects always count
 * as failures and interruptions are always ignored.
 *
 * @since 0.1.0
 * @category models
 */
export type Classify = (reason: Timeout | Unavailable) => BreakerOutcome

/**
 * @since 0.1.0
 * @category models
 */
export interface BreakerOptions {
  readonly trip: TripPolicy
  /** How long the circuit stays open before letting one probe call through. */
  readonly openDuration: Duration.Input
  /**
   * The circuit's key in the store; the policy name by default. Policies that
   * share a store (e.g. Redis) and a key share one circuit.
   */
  readonly key?: string | undefined
  /** What failures count against the dependency; `classifyDefault` if absent. */
  readonly classify?: Classify | undefined
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
  /**
   * Which errors are worth retrying, for errors that do not carry an
   * `isRetryable` of their own; `PolicyError.isRetryable` if absent.
   */
  readonly isRetryable?: ((error: unknown) => boolean) | undefined
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
 * The default breaker classification: timeouts and retryable failures count
 * against the dependency, non-retryable errors are ignored.
 *
 * @since 0.1.0
 * @category classifiers
 */
export const classifyDefault: Classify = (reason) =>
  reason._tag === "Timeout" || reason.retryable ? "failure" : "ignored"

/**
 * Like `classifyDefault`, but a timeout is ignored: for dependencies whose
 * slow calls are expected (large scans) and should not open the circuit.
 *
 * @since 0.1.0
 * @category classifiers
 */
export const classifyIgnoringTimeouts: Classify = (reason) =>
  reason._tag === "Timeout" ? "ignored" : classifyDefault(reason)

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
    // One labelled counter per outcome, built once: labelling on every call costs more than the call.
    const callsByOutcome = new Map(
      ["success", "timeout", "unavailable", "circuit_open", "interrupted"].map((outcome) => [
        outcome,
        Metric.withAttributes(Metrics.policyCalls, { policy: name, outcome })
      ])
    )
    const calls = (outcome: string) => callsByOutcome.get(outcome)!
    const retries = Metric.withAttributes(Metrics.policyRetries, attributes)
    const latency = Metric.withAttributes(Metrics.policyLatency, attributes)
    const stateGauge = Metric.withAttributes(Metrics.breakerState, attributes)
    const retry = options.retry
    const retryable = options.isRetryable ?? isRetryable
    const classify = breakerClassify(options.breaker?.classify ?? classifyDefault)
    const timeout = options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)

    const breakerKey = options.breaker?.key ?? name
    const breaker = options.breaker === undefined ? undefined : yield* makeBreaker(name, options.breaker)
    if (breaker !== undefined) {
      // A shared store may already hold an open circuit for this key.
      const initial = yield* breaker.state(breakerKey).pipe(
        Effect.map((s) => s._tag),
        Effect.orElseSucceed(() => "Closed" as const)
      )
      yield* Metric.update(stateGauge, gaugeValue[initial])
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
        // The schedule is only built once the first attempt has failed with a
        // retryable error: most calls succeed, and building it costs more than
        // the bare call. That failure is replayed into the retry loop so the
        // schedule's first delay follows it.
        const retryAfter = (start: number | undefined) =>
          Effect.catch(attempt, (error: E) => {
            if (!retryable(error)) return Effect.fail(error)
            let replay = true
            const again = Effect.suspend(() => {
              if (!replay) return attempt
              replay = false
              return Effect.fail(error)
            })
            return Effect.retry(again, {
              schedule: retrySchedule(retry!, start),
              while: (e: E) => retryable(e)
            })
          })
        const retried: Effect.Effect<A, E, R> =
          retry === undefined || retry.maxAttempts <= 1
            ? attempt
            : retry.maxElapsed === undefined
              ? retryAfter(undefined)
              : Effect.flatMap(Clock.currentTimeMillis, retryAfter)
        let guarded: Effect.Effect<A, PolicyError, R> = Effect.mapError(
          retried,
          (cause) =>
            new PolicyError({
              reason: new Unavailable({ operation: name, attempts, retryable: retryable(cause), cause })
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
        // Latency and retries describe calls that ran: a rejected call records neither.
        const measured = Effect.flatMap(Clock.currentTimeMillis, (start) =>
          Effect.onExit(guarded, () =>
            Effect.flatMap(Clock.currentTimeMillis, (end) =>
              attempts > 1
                ? Effect.andThen(Metric.update(latency, end - start), Metric.update(retries, attempts - 1))
                : Metric.update(latency, end - start)
            )
          )
        )
        const admitted =
          breaker === undefined
            ? measured
            : breaker
                .execute(measured, { key: breakerKey, classify })
                .pipe(Effect.catchTag("CircuitBreakerError", (error) => Effect.fail(fromBreakerError(name, error))))
        return Effect.onExit(admitted, (exit) =>
          Metric.update(calls(exit._tag === "Success" ? "success" : outcomeOf(exit.cause)), 1)
        )
      })

    const breakerState: Effect.Effect<BreakerState> =
      breaker === undefined
        ? Effect.succeed("none")
        : breaker.state(breakerKey).pipe(
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
 * Runs `effect` under `policy`: `effect.pipe(Policy.run(policy))` or
 * `Policy.run(effect, policy)`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run: {
  (policy: Policy): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, PolicyError, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, policy: Policy): Effect.Effect<A, PolicyError, R>
} = dual(
  2,
  <A, E, R>(effect: Effect.Effect<A, E, R>, policy: Policy): Effect.Effect<A, PolicyError, R> => policy.run(effect)
)

/**
 * The schedule a policy retries with: exponential from `base`, optionally
 * jittered, bounded by attempts and elapsed time. With `startMillis` (the
 * `Clock` time the call began) no retry is scheduled to start later than
 * `maxElapsed` after it; without, elapsed time counts from the first failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const retrySchedule = (options: RetryOptions, startMillis?: number): Schedule.Schedule<unknown> => {
  const exponential = Schedule.exponential(options.base, options.factor ?? 2)
  const jittered = (options.jitter ?? true) ? Schedule.jittered(exponential) : exponential
  const bounded = Schedule.upTo(jittered, { times: Math.max(0, options.maxAttempts - 1) })
  if (options.maxElapsed === undefined) return bounded
  const budget = Duration.toMillis(Duration.fromInputUnsafe(options.maxElapsed))
  // Checks the delay before sleeping it, so a retry never starts past the budget.
  return Schedule.while(
    bounded,
    ({ now, start, duration }) => now - (startMillis ?? start) + Duration.toMillis(duration) <= budget
  )
}

/**
 * Reads policy options from configuration under a prefix. With
 * `config("ORDERS_DB")`: `ORDERS_DB_TIMEOUT` (default 5 seconds),
 * `ORDERS_DB_RETRY_BASE` (100 millis), `ORDERS_DB_RETRY_FACTOR` (2),
 * `ORDERS_DB_RETRY_ATTEMPTS` (3), `ORDERS_DB_RETRY_MAX_ELAPSED` (10 seconds),
 * `ORDERS_DB_RETRY_JITTER` (true), `ORDERS_DB_BREAKER_THRESHOLD` (0.5),
 * `ORDERS_DB_BREAKER_MINIMUM_CALLS` (20), `ORDERS_DB_BREAKER_WINDOW` (100) and
 * `ORDERS_DB_BREAKER_OPEN` (30 seconds), a rate breaker. The policy is named
 * after the prefix in lower case unless `name` is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const config = (prefix: string, name?: string): Config.Config<Options> => {
  const key = (suffix: string) => `${prefix}_${suffix}`
  return Config.all({
    timeout: Config.Duration(key("TIMEOUT")).pipe(Config.withDefault(Duration.seconds(5))),
    base: Config.Duration(key("RETRY_BASE")).pipe(Config.withDefault(Duration.millis(100))),
    factor: Config.Number(key("RETRY_FACTOR")).pipe(Config.withDefault(2)),
    maxAttempts: Config.Int(key("RETRY_ATTEMPTS")).pipe(Config.withDefault(3)),
    maxElapsed: Config.Duration(key("RETRY_MAX_ELAPSED")).pipe(Config.withDefault(Duration.seconds(10))),
    jitter: Config.Boolean(key("RETRY_JITTER")).pipe(Config.withDefault(true)),
    threshold: Config.Number(key("BREAKER_THRESHOLD")).pipe(Config.withDefault(0.5)),
    minimumCalls: Config.Int(key("BREAKER_MINIMUM_CALLS")).pipe(Config.withDefault(20)),
    size: Config.Int(key("BREAKER_WINDOW")).pipe(Config.withDefault(100)),
    openDuration: Config.Duration(key("BREAKER_OPEN")).pipe(Config.withDefault(Duration.seconds(30)))
  }).pipe(
    Config.map(
      (c): Options => ({
        name: name ?? prefix.toLowerCase(),
        timeout: c.timeout,
        retry: {
          base: c.base,
          factor: c.factor,
          maxAttempts: c.maxAttempts,
          maxElapsed: c.maxElapsed,
          jitter: c.jitter
        },
        breaker: {
          // A window smaller than the minimum would never trip; clamp rather than fail at start-up.
          trip: { _tag: "rate", threshold: c.threshold, minimumCalls: Math.min(c.minimumCalls, c.size), size: c.size },
          openDuration: c.openDuration
        }
      })
    )
  )
}

/**
 * Builds a policy from configuration under a prefix (see `config`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeConfig = (prefix: string, name?: string): Effect.Effect<Policy, Config.ConfigError, Scope.Scope> =>
  Effect.flatMap(config(prefix, name), make)

const fromOutcome = {
  failure: CircuitBreaker.failure(),
  success: CircuitBreaker.success,
  ignored: CircuitBreaker.ignored
} as const

// Maps a call's exit to what it says about the dependency's health.
const breakerClassify =
  (hook: Classify) =>
  <A>(exit: Exit.Exit<A, PolicyError>): CircuitBreaker.Outcome => {
    if (Exit.isSuccess(exit)) return CircuitBreaker.success
    for (const reason of exit.cause.reasons) {
      if (reason._tag === "Fail" && reason.error.reason._tag !== "CircuitOpen") {
        return fromOutcome[hook(reason.error.reason)]
      }
    }
    // A defect (a rejected promise, a thrown exception) counts against the dependency.
    return exit.cause.reasons.some((r) => r._tag === "Die") ? fromOutcome.failure : CircuitBreaker.ignored
  }

const fromBreakerError = (name: string, error: CircuitBreaker.CircuitBreakerError): PolicyError => {
  const reason = error.reason
  switch (reason._tag) {
    case "CircuitOpen":
      return new PolicyError({
        reason: new CircuitOpen({ operation: name, retryAfterMillis: Duration.toMillis(reason.retryAfter) })
      })
    case "CircuitHalfOpen":
      // A probe is running and decides soon: there is no wait to advise.
      return new PolicyError({ reason: new CircuitOpen({ operation: name, retryAfterMillis: 0 }) })
    case "CircuitBreakerStoreError":
      return new PolicyError({
        reason: new Unavailable({ operation: name, attempts: 0, retryable: true, cause: reason })
      })
  }
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
