/**
 * Lookups over an HTTP API that answers one key per request (`GET
 * {baseUrl}{path(key)}`), e.g. a Profile API, with the `HttpClient` in
 * context (the runner provides Node's undici client).
 *
 * `resolver` only fetches: each key is one GET, a 404 means the key does not
 * exist, and failures are classified once (transport errors, 408, 429 and
 * 5xx are retryable `Unavailable`; other statuses and bodies that do not
 * decode are `Unavailable` and not retryable; a request slower than
 * `timeout` is `Timeout`). Every request first takes a slot from a rate
 * limiter, so retries count against the limit too.
 *
 * `make` composes the parts of `Lookup` around it: the policy (retries with
 * backoff, breaker), batching of one key per query (so one user's failure is
 * never another's), and in front of everything a coalescing step: while a
 * request for a key is in flight, further `get`s of that key wait for its
 * answer instead of sending their own.
 *
 * @since 0.1.0
 */
import type { Array as Arr } from "effect"
import { Clock, Deferred, Duration, Effect, Option, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import * as Lookup from "./Lookup.ts"
import { LookupError, Timeout, Unavailable } from "./LookupError.ts"

/**
 * Where and how to ask.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolverOptions<V> {
  /** Names the lookup in errors and metrics. */
  readonly name: string
  /** e.g. `http://localhost:8080`. */
  readonly baseUrl: string
  /** The path of one key; `/users/{key}` by default. */
  readonly path?: ((key: string) => string) | undefined
  /** Decodes the JSON body of a 200 answer. */
  readonly schema: Schema.Codec<V, unknown>
  /** Per request; 5 seconds by default. */
  readonly timeout?: Duration.Input | undefined
  /** Most requests per second, all keys together; unlimited by default. */
  readonly ratePerSecond?: number | undefined
  /** Most requests of one batch in flight at once; 16 by default. */
  readonly concurrency?: number | undefined
}

/**
 * A limiter that spaces calls `1000 / ratePerSecond` ms apart on the `Clock`:
 * each call reserves the next free instant and sleeps until it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rateLimiter = (ratePerSecond: number | undefined) => {
  if (ratePerSecond === undefined || !(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
    return <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
  }
  const spacing = 1000 / ratePerSecond
  let next = 0
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const slot = Math.max(now, next)
      next = slot + spacing
      const wait = slot - now
      return wait <= 0 ? effect : Effect.andThen(Effect.sleep(Duration.millis(wait)), effect)
    })
}

const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

const unavailable = (lookup: string, retryable: boolean, detail: string, cause?: unknown): LookupError =>
  new LookupError({ reason: new Unavailable({ lookup, retryable, detail, cause }) })

/**
 * A resolver asking the API one GET per key, the keys of a batch concurrently.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolver = <V>(
  options: ResolverOptions<V>
): Effect.Effect<Lookup.Resolver<string, V>, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const http = yield* HttpClient.HttpClient
    const name = options.name
    const base = options.baseUrl.replace(/\/+$/, "")
    const path = options.path ?? ((key: string) => `/users/${encodeURIComponent(key)}`)
    const timeout = Duration.fromInputUnsafe(options.timeout ?? "5 seconds")
    const timeoutMillis = Duration.toMillis(timeout)
    const decode = Schema.decodeUnknownEffect(options.schema)
    const limit = rateLimiter(options.ratePerSecond)
    const concurrency = options.concurrency ?? 16

    const one = (key: string): Effect.Effect<Option.Option<V>, LookupError> =>
      http.execute(HttpClientRequest.get(`${base}${path(key)}`, { acceptJson: true })).pipe(
        Effect.mapError((error) => unavailable(name, true, error.message, error)),
        Effect.flatMap((response): Effect.Effect<Option.Option<V>, LookupError> => {
          if (response.status === 404) return Effect.as(Effect.ignore(response.text), Option.none())
          if (response.status !== 200) {
            // Reading the body lets the connection go back to the pool.
            return Effect.andThen(
              Effect.ignore(response.text),
              Effect.fail(unavailable(name, retryableStatus(response.status), `HTTP ${response.status}`))
            )
          }
          return response.json.pipe(
            Effect.mapError((error) => unavailable(name, true, error.message, error)),
            Effect.flatMap((body) =>
              Effect.mapError(decode(body), (error) => unavailable(name, false, error.message, error))
            ),
            Effect.map(Option.some)
          )
        }),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(new LookupError({ reason: new Timeout({ lookup: name, timeoutMillis, cause: undefined }) }))
        }),
        limit
      )

    const fetch: Lookup.Fetch<string, V> = (keys: Arr.NonEmptyReadonlyArray<string>) =>
      Effect.map(Effect.forEach(keys, one, { concurrency }), (answers) => {
        const rows = new Map<string, V>()
        for (let i = 0; i < keys.length; i++) {
          const answer = answers[i]!
          if (Option.isSome(answer)) rows.set(keys[i]!, answer.value)
        }
        return rows
      })
    return Lookup.resolver({ name, fetch })
  })

/**
 * Coalesces concurrent `get`s of one key: while a `get` of a key is in
 * flight, later ones wait for its answer. The map holds only keys in flight,
 * so it is bounded by the caller's concurrency.
 *
 * @since 0.1.0
 * @category combinators
 */
export const coalesced = <V>(lookup: Lookup.Lookup<string, V>): Lookup.Lookup<string, V> => {
  const inFlight = new Map<string, Deferred.Deferred<Option.Option<V>, LookupError>>()
  const get = (key: string): Effect.Effect<Option.Option<V>, LookupError> =>
    Effect.suspend(() => {
      const pending = inFlight.get(key)
      if (pending !== undefined) return Deferred.await(pending)
      const deferred = Deferred.makeUnsafe<Option.Option<V>, LookupError>()
      inFlight.set(key, deferred)
      return lookup.get(key).pipe(
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            inFlight.delete(key)
            return Deferred.done(deferred, exit)
          })
        )
      )
    })
  return {
    _tag: "Lookup",
    name: lookup.name,
    get,
    getMany: (keys) => Effect.forEach(keys, get, { concurrency: "unbounded" })
  }
}

/**
 * Options of `make`: the resolver's, and the policy guarding each request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<V> extends ResolverOptions<V> {
  readonly policy: Lookup.LookupPolicy
}

/**
 * An HTTP lookup with its policy, one key per request, concurrent `get`s of
 * one key coalesced into one request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <V>(options: Options<V>): Effect.Effect<Lookup.Lookup<string, V>, never, HttpClient.HttpClient> =>
  Effect.map(resolver(options), (fetched) =>
    coalesced(Lookup.batched(Lookup.withPolicy(fetched, options.policy), { maxBatchSize: 1 }))
  )
