/**
 * Where a job's circuit breakers keep their state (`--breaker-store`,
 * `BREAKER_STORE`). With `redis`, Effect's Redis-backed `CircuitBreakerStore`
 * holds each circuit under `sluice:breaker:<group>:<policy>`, so the replicas
 * of one job (one consumer group) share one circuit per policy: one replica's
 * failures open it for all, and one probe at a time tests the dependency.
 *
 * A shared breaker must never stop the job: when Redis cannot be reached at
 * start the job runs with a local (in-memory) breaker and says so once; if it
 * goes away later, the circuits fall back to the local store until it answers
 * again (`withFallback`), with one line each way.
 *
 * @since 0.1.0
 */
import { Metrics, Policy } from "@sluice/core"
import { Context, Duration, Effect, Layer, Metric, Redacted, References, Schedule, type Scope } from "effect"
import { CircuitBreaker } from "effect/persistence"
import type * as Config from "./Config.ts"

/**
 * The resolved store settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly store: "memory" | "redis"
  readonly redisUrl: Redacted.Redacted<string>
  /** Scopes the circuits: the replicas of one job share this key prefix. */
  readonly group: string
  /** How long to wait for Redis at start before falling back. */
  readonly connectTimeout?: Duration.Input
}

/**
 * The resolved settings of `Config.breakerStore` for a job's group.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (v: Config.Resolved<typeof Config.breakerStore>, group: string): Options => ({
  store: v.breakerStore._tag === "Some" ? v.breakerStore.value : "memory",
  redisUrl: v.redisUrl._tag === "Some" ? v.redisUrl.value : Redacted.make("redis://127.0.0.1:6379"),
  group
})

/**
 * The Redis key prefix of a group's circuits.
 *
 * @since 0.1.0
 * @category constructors
 */
export const prefix = (group: string): string => `sluice:breaker:${group}:`

/**
 * A breaker store, and whether it is shared with the job's other replicas.
 *
 * @since 0.1.0
 * @category models
 */
export type Store = CircuitBreaker.CircuitBreakerStore["Service"] & { readonly shared: boolean }

// The URL without credentials, for the log line.
const hostOf = (url: Redacted.Redacted<string>): string => {
  const u = new URL(Redacted.value(url))
  return u.host
}

/**
 * A store that uses `shared` while it answers and `local` while it does not:
 * a circuit whose shared state cannot be read is guarded by this process
 * alone instead of not at all. Each key remembers which store admitted its
 * last call, so the outcome is recorded where the call was admitted (an
 * outcome recorded in the other store carries a generation it does not know,
 * and changes nothing). `onSwitch` is told each time the store in use changes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withFallback = (
  shared: CircuitBreaker.CircuitBreakerStore["Service"],
  local: CircuitBreaker.CircuitBreakerStore["Service"],
  onSwitch: (to: "shared" | "local", error?: unknown) => Effect.Effect<void>
): CircuitBreaker.CircuitBreakerStore["Service"] => {
  const admittedLocally = new Set<string>()
  let usingLocal = false
  const switchTo = (to: "shared" | "local", error?: unknown) =>
    Effect.suspend(() => {
      if (usingLocal === (to === "local")) return Effect.void
      usingLocal = to === "local"
      return onSwitch(to, error)
    })
  const isStoreError = (error: CircuitBreaker.CircuitBreakerError) => error.reason._tag === "CircuitBreakerStoreError"
  return {
    admit: (key) =>
      shared.admit(key).pipe(
        Effect.tap(() =>
          Effect.andThen(
            switchTo("shared"),
            Effect.sync(() => admittedLocally.delete(key))
          )
        ),
        Effect.catchIf(isStoreError, (error) =>
          switchTo("local", error.reason).pipe(
            Effect.andThen(Effect.sync(() => admittedLocally.add(key))),
            Effect.andThen(local.admit(key))
          )
        )
      ),
    record: (options) =>
      admittedLocally.has(options.key)
        ? local.record(options)
        : shared
            .record(options)
            .pipe(Effect.catchIf(isStoreError, (error) => Effect.as(switchTo("local", error.reason), undefined))),
    state: (key) => shared.state(key).pipe(Effect.catchIf(isStoreError, () => local.state(key)))
  }
}

/**
 * The store for the job's scope: Redis when asked for and reachable, else the
 * in-memory store (with one warning when Redis was asked for). Once connected,
 * a Redis that stops answering hands the circuits to the in-memory store
 * until it answers again, with one line each way. The Redis connection closes
 * with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Store, never, Scope.Scope> =>
  Effect.gen(function* () {
    const local = Context.get(yield* Layer.build(Policy.layerStoreMemory), CircuitBreaker.CircuitBreakerStore)
    if (options.store === "memory") return { ...local, shared: false }
    const where = { redis: hostOf(options.redisUrl), prefix: prefix(options.group) }
    const connectTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout ?? "3 seconds"))
    // The Redis client is loaded only for a shared store: it is a large
    // module tree that a job with local breakers would keep on its heap.
    const NodeRedis = yield* Effect.promise(() => import("@effect/platform-node/NodeRedis"))
    const redis = Layer.build(
      CircuitBreaker.layerStoreRedis({ prefix: prefix(options.group) }).pipe(
        Layer.provide(NodeRedis.layer({ url: Redacted.value(options.redisUrl), socket: { connectTimeout } }))
      )
    ).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(connectTimeout + 1000),
        orElse: () => Effect.fail(new Error(`no answer within ${connectTimeout}ms`))
      }),
      // The client reports every socket error as a warning; this module says
      // once what they mean for the breakers instead.
      Effect.provideService(References.MinimumLogLevel, "Error")
    )
    return yield* redis.pipe(
      Effect.map((context): Store => {
        const shared = Context.get(context, CircuitBreaker.CircuitBreakerStore)
        const store = withFallback(shared, local, (to, error) =>
          to === "local"
            ? Effect.logWarning("Redis unreachable: circuit breakers are local to this process until it answers").pipe(
                Effect.annotateLogs({ ...where, error: String(error) })
              )
            : Effect.logInfo("Redis answers again: circuit breakers are shared").pipe(Effect.annotateLogs(where))
        )
        return { ...store, shared: true }
      }),
      Effect.tap(() => Effect.logInfo("circuit breakers shared through Redis").pipe(Effect.annotateLogs(where))),
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning("Redis unreachable: circuit breakers are local to this process").pipe(
            Effect.annotateLogs({ ...where, error: String(error) })
          ),
          { ...local, shared: false }
        )
      )
    )
  })

/**
 * Keeps a policy's `sluice_breaker_state` gauge in step with a shared circuit:
 * the gauge otherwise only follows this process's own transitions, and a
 * circuit another replica opened must show here too. Polls every `every`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const mirrorState = (
  policy: Policy.Policy,
  every: Duration.Input = "500 millis"
): Effect.Effect<void, never, Scope.Scope> => {
  const gauge = Metric.withAttributes(Metrics.breakerState, { policy: policy.name })
  return policy.breakerState.pipe(
    Effect.flatMap((state) =>
      state === "none" ? Effect.void : Metric.update(gauge, state === "open" ? 2 : state === "half-open" ? 1 : 0)
    ),
    Effect.repeat(Schedule.spaced(every)),
    Effect.asVoid,
    Effect.forkScoped,
    Effect.asVoid
  )
}
