/**
 * A Profile API for tests and demos: a real HTTP server on loopback answering
 * `GET /users/{id}` with a user's profile, current visit and event history,
 * all derived from a seed and the user id, so the same seed always gives the
 * same answers and a test can compute what to expect with `recordOf`. Also
 * `GET /users/{id}/profile`, `/visit` and `/history` separately.
 *
 * It counts calls per user, can answer slowly (`latency`, slept on the
 * `Clock` of the scope that made it, so a `TestClock` test controls it), can
 * fail a share of calls (`failureRate`, drawn from a seeded sequence, with
 * `failureStatus`), and can be switched `down` (the port refuses connections
 * and open ones are dropped) and back `up` on the same port at runtime.
 *
 * ```ts
 * const api = yield* FakeProfileApi.make({ seed: 7, latency: "20 millis" })
 * // GET `${api.url}/users/user-1`, then:
 * const calls = yield* api.calls("user-1")
 * yield* api.down
 * ```
 *
 * @since 0.1.0
 */
import type * as Http from "node:http"
import type { Scope } from "effect"
import { Context, DateTime, Duration, Effect, Layer } from "effect"
import { listen, portOf, shut } from "./internal/httpListener.ts"
import type { TestkitError } from "./TestkitError.ts"

/**
 * A user's profile, as `GET /users/{id}/profile` answers it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Profile {
  readonly userId: string
  readonly name: string
  readonly email: string
  readonly country: string
  readonly city: string
  readonly age: number
  readonly tier: "free" | "plus" | "premium"
  /** ISO date. */
  readonly memberSince: string
}

/**
 * A user's current visit (session).
 *
 * @since 0.1.0
 * @category models
 */
export interface Visit {
  readonly visitId: string
  readonly userId: string
  /** ISO timestamp. */
  readonly startedAt: string
  readonly device: "desktop" | "mobile" | "tablet"
  readonly browser: string
  readonly referrer: string
  readonly pageViews: number
}

/**
 * One past event of a user.
 *
 * @since 0.1.0
 * @category models
 */
export interface HistoryEntry {
  readonly eventId: string
  readonly eventType: string
  readonly eventName: string
  /** ISO timestamp. */
  readonly timestamp: string
}

/**
 * What `GET /users/{id}` answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserRecord {
  readonly profile: Profile
  readonly visit: Visit
  readonly history: ReadonlyArray<HistoryEntry>
}

// Country shares: about 40 % of users are in the US, enough for a filter on it to pass often.
const countries = [
  ["US", ["New York", "Austin", "Seattle", "Chicago"]],
  ["US", ["San Francisco", "Boston", "Denver", "Miami"]],
  ["DE", ["Berlin", "Munich", "Hamburg"]],
  ["FR", ["Paris", "Lyon", "Lille"]],
  ["GB", ["London", "Leeds", "Bristol"]]
] as const
const firstNames = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
const lastNames = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman"]
const tiers = ["free", "free", "plus", "premium"] as const
const devices = ["desktop", "mobile", "mobile", "tablet"] as const
const browsers = ["firefox", "chrome", "safari", "edge"]
const referrers = ["direct", "search", "newsletter", "social"]
const eventTypes = [
  ["page_view", ["home_page", "product_page", "cart_page"]],
  ["click", ["add_to_cart", "banner", "checkout_button"]],
  ["purchase", ["order_completed"]]
] as const

// 2026-01-01T00:00:00Z: all generated times fall in the year before it.
const EPOCH_MILLIS = 1_767_225_600_000
const DAY = 86_400_000

// FNV-1a over the seed and the id, then mulberry32: a stream of numbers per user.
const rngFor = (seed: number, id: string): (() => number) => {
  let h = 0x811c9dc5 ^ seed
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  let s = h >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const pick = <A>(rng: () => number, xs: ReadonlyArray<A>): A => xs[Math.floor(rng() * xs.length)]!
const iso = (millis: number): string => DateTime.formatIso(DateTime.makeUnsafe(millis))

/**
 * The record the API answers for `userId` under `seed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const recordOf = (seed: number, userId: string): UserRecord => {
  const rng = rngFor(seed, userId)
  const [country, cities] = pick(rng, countries)
  const first = pick(rng, firstNames)
  const last = pick(rng, lastNames)
  const visitStart = EPOCH_MILLIS - Math.floor(rng() * 30 * DAY)
  const profile: Profile = {
    userId,
    name: `${first} ${last}`,
    email: `${first}.${last}.${userId}@example.com`.toLowerCase(),
    country,
    city: pick(rng, cities),
    age: 18 + Math.floor(rng() * 60),
    tier: pick(rng, tiers),
    memberSince: iso(EPOCH_MILLIS - Math.floor(rng() * 365) * DAY).slice(0, 10)
  }
  const visit: Visit = {
    visitId: `visit-${userId}-${Math.floor(rng() * 1e6)}`,
    userId,
    startedAt: iso(visitStart),
    device: pick(rng, devices),
    browser: pick(rng, browsers),
    referrer: pick(rng, referrers),
    pageViews: 1 + Math.floor(rng() * 20)
  }
  const history = Array.from({ length: Math.floor(rng() * 6) }, (_, i): HistoryEntry => {
    const [eventType, names] = pick(rng, eventTypes)
    return {
      eventId: `hist-${userId}-${i}`,
      eventType,
      eventName: pick(rng, names),
      timestamp: iso(visitStart - (i + 1) * Math.floor(1 + rng() * DAY))
    }
  })
  return { profile, visit, history }
}

/**
 * The seed and the behaviour the API starts with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seeds every user's data and the failure sequence; 42 by default. */
  readonly seed?: number | undefined
  /** Delay before each answer; none by default. */
  readonly latency?: Duration.Input | undefined
  /** Share of calls (0..1) answered with `failureStatus`; 0 by default. */
  readonly failureRate?: number | undefined
  /** Status of a failed call; 503 by default. */
  readonly failureStatus?: number | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
}

/**
 * A running Profile API.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeProfileApi extends Context.Service<
  FakeProfileApi,
  {
    readonly host: string
    readonly port: number
    /** `http://host:port`; users are under `/users/{id}`. */
    readonly url: string
    readonly seed: number
    /** Calls that reached the API for one user, failed ones included. */
    readonly calls: (userId: string) => Effect.Effect<number>
    /** Calls that reached the API, for all users. */
    readonly totalCalls: Effect.Effect<number>
    /** Per-user call counts. */
    readonly callsByUser: Effect.Effect<ReadonlyMap<string, number>>
    readonly resetCounts: Effect.Effect<void>
    readonly setLatency: (latency: Duration.Input) => Effect.Effect<void>
    readonly setFailureRate: (rate: number) => Effect.Effect<void>
    /** Stops listening and drops open connections: calls fail with a refused connection. */
    readonly down: Effect.Effect<void>
    /** Listens again on the same port. */
    readonly up: Effect.Effect<void, TestkitError>
  }
>()("@sluice/testkit/FakeProfileApi") {}

const route = /^\/users\/([^/?]+)(?:\/(profile|visit|history))?\/?(?:\?.*)?$/

/**
 * Starts the API; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<FakeProfileApi["Service"], TestkitError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options?.host ?? "127.0.0.1"
    const seed = options?.seed ?? 42
    const failureStatus = options?.failureStatus ?? 503
    let latency = Duration.fromInputUnsafe(options?.latency ?? 0)
    let failureRate = options?.failureRate ?? 0
    const failures = rngFor(seed, "failures")
    const counts = new Map<string, number>()
    // Answers run as fibers with the caller's services, so latency sleeps on its Clock.
    const context = yield* Effect.context<never>()
    const runFork = Effect.runForkWith(context)

    const respond = (response: Http.ServerResponse, status: number, body: unknown) =>
      Effect.sync(() => {
        if (response.destroyed) return
        response.writeHead(status, { "content-type": "application/json" })
        response.end(JSON.stringify(body))
      })

    const handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      const match = request.method === "GET" ? route.exec(request.url ?? "") : null
      if (match === null) {
        runFork(respond(response, 404, { error: "not found" }))
        return
      }
      const userId = decodeURIComponent(match[1]!)
      counts.set(userId, (counts.get(userId) ?? 0) + 1)
      const failed = failureRate > 0 && failures() < failureRate
      const answer = failed
        ? respond(response, failureStatus, { error: "profile service failure" })
        : Effect.suspend(() => {
            const record = recordOf(seed, userId)
            const part = match[2] as "profile" | "visit" | "history" | undefined
            return respond(response, 200, part === undefined ? record : record[part])
          })
      runFork(Duration.isZero(latency) ? answer : Effect.andThen(Effect.sleep(latency), answer))
    }

    const port0 = options?.port ?? 0
    let server: Http.Server | undefined = yield* Effect.acquireRelease(listen(handler, host, port0), () =>
      Effect.suspend(() => {
        const open = server
        server = undefined
        return open === undefined ? Effect.void : shut(open)
      })
    )
    const port = portOf(server, port0)

    return FakeProfileApi.of({
      host,
      port,
      url: `http://${host}:${port}`,
      seed,
      calls: (userId) => Effect.sync(() => counts.get(userId) ?? 0),
      totalCalls: Effect.sync(() => {
        let total = 0
        for (const n of counts.values()) total += n
        return total
      }),
      callsByUser: Effect.sync(() => new Map(counts)),
      resetCounts: Effect.sync(() => counts.clear()),
      setLatency: (next) =>
        Effect.sync(() => {
          latency = Duration.fromInputUnsafe(next)
        }),
      setFailureRate: (rate) =>
        Effect.sync(() => {
          failureRate = rate
        }),
      down: Effect.suspend(() => {
        const open = server
        server = undefined
        return open === undefined ? Effect.void : shut(open)
      }),
      up: Effect.suspend(() =>
        server !== undefined
          ? Effect.void
          : Effect.map(listen(handler, host, port), (s) => {
              server = s
            })
      )
    })
  })

/**
 * The API as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeProfileApi, TestkitError> =>
  Layer.effect(FakeProfileApi, make(options))
