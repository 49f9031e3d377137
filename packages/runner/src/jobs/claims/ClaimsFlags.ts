/**
 * The flags of the claims commands: the enrich job's tuning (cache, lookup
 * policy, what to do while the database is down), the generator's, the
 * large-claims threshold, the replay's and the demo's chaos options.
 *
 * @since 0.1.0
 */
import type { BigDecimal } from "effect"
import { Flag } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import * as Money from "./Money.ts"

const parsed = Flags.parsed
const withDefault = Flags.withDefault

const money: Parse.Parser<BigDecimal.BigDecimal> = (text) => {
  const r = Money.parse(text.trim())
  return "amount" in r ? { ok: true, value: r.amount } : { ok: false, expected: `an amount: ${r.error}` }
}

/**
 * Maximum number of payments enriched at the same time.
 *
 * @since 0.1.0
 * @category flags
 */
// 2048 lets the chunk path take chunks of up to 1,024 payments, two at a time,
// each looked up with one statement: at saturation the claims benchmark
// measured 1.7 statements per 1,000 payments at 0% cache hits against 15.9
// with 256 (chunks of 128, statements of at most 100 ids), and about a tenth
// less CPU per payment (within the machine's noise). Chunks are cut from what the source has, never waited
// for, so at a low rate they stay small and add no latency.
export const concurrency = parsed("concurrency", Parse.int(1, 10_000), "Payments enriched at the same time").pipe(
  withDefault(2048, "2048")
)

/**
 * Output order: per partition (`ordered`), per key (`key`) or completion order (`unordered`).
 *
 * @since 0.1.0
 * @category flags
 */
export const ordering = parsed(
  "ordering",
  Parse.oneOf(["ordered", "key", "unordered"]),
  "Output order: ordered (per partition), key (per claim id) or unordered"
).pipe(withDefault<"ordered" | "key" | "unordered">("key", "key"))

/**
 * Maximum entries in the claims lookup cache (0 disables it).
 *
 * @since 0.1.0
 * @category flags
 */
export const cacheSize = parsed("cache-size", Parse.int(0, 10_000_000), "Claims cache entries (0: no cache)").pipe(
  withDefault(10_000, "10000")
)

/**
 * How long a found claim stays cached.
 *
 * @since 0.1.0
 * @category flags
 */
export const cacheTtl = parsed("cache-ttl", Parse.duration, "Time a found claim stays cached").pipe(
  withDefault(Parse.unsafe(Parse.duration, "1m"), "1m")
)

/**
 * How long a missing claim is remembered as missing.
 *
 * @since 0.1.0
 * @category flags
 */
export const cacheMissTtl = parsed("cache-miss-ttl", Parse.duration, "Time a missing claim stays cached").pipe(
  withDefault(Parse.unsafe(Parse.duration, "5s"), "5s")
)

/**
 * Time limit of one claims lookup, retries excluded; beyond it the payment is DB_TIMEOUT.
 *
 * @since 0.1.0
 * @category flags
 */
export const lookupTimeout = parsed("lookup-timeout", Parse.duration, "Time limit of one claims lookup").pipe(
  withDefault(Parse.unsafe(Parse.duration, "5s"), "5s")
)

/**
 * Retries of a failed lookup before the payment is DB_ERROR.
 *
 * @since 0.1.0
 * @category flags
 */
export const retryAttempts = parsed("retry-attempts", Parse.int(0, 100), "Retries of a failed lookup").pipe(
  withDefault(3, "3")
)

/**
 * First retry delay; it doubles on each retry, with jitter.
 *
 * @since 0.1.0
 * @category flags
 */
export const retryBackoff = parsed("retry-backoff", Parse.duration, "First retry delay (doubles each retry)").pipe(
  withDefault(Parse.unsafe(Parse.duration, "100ms"), "100ms")
)

/**
 * Failure rate over the window that opens the circuit breaker.
 *
 * @since 0.1.0
 * @category flags
 */
export const breakerThreshold = parsed(
  "breaker-threshold",
  Parse.fraction,
  "Failure rate that opens the circuit breaker"
).pipe(withDefault(0.5, "0.5"))

/**
 * Number of recent calls the failure rate is computed over.
 *
 * @since 0.1.0
 * @category flags
 */
export const breakerWindow = parsed("breaker-window", Parse.int(1, 100_000), "Recent calls the rate is over").pipe(
  withDefault(20, "20")
)

/**
 * How long the breaker stays open before letting probe calls through.
 *
 * @since 0.1.0
 * @category flags
 */
export const breakerCooldown = parsed("breaker-cooldown", Parse.duration, "Time the breaker stays open").pipe(
  withDefault(Parse.unsafe(Parse.duration, "10s"), "10s")
)

/**
 * What to do while the database is unavailable: route payments to the failed
 * topic as DB_ERROR, or pause consumption until it recovers.
 *
 * @since 0.1.0
 * @category flags
 */
export const onDbUnavailable = parsed(
  "on-db-unavailable",
  Parse.oneOf(["route", "pause"]),
  "While the database is down: route (to the failed topic) or pause"
).pipe(withDefault<"route" | "pause">("route", "route"))

/**
 * Generator rate.
 *
 * @since 0.1.0
 * @category flags
 */
export const eventsPerSecond = parsed("events-per-second", Parse.positiveNumber, "Events generated per second").pipe(
  withDefault(100, "100")
)

/**
 * Fraction of generated payments whose claim exists.
 *
 * @since 0.1.0
 * @category flags
 */
export const validClaimRate = parsed("valid-claim-rate", Parse.fraction, "Fraction of existing claim ids").pipe(
  withDefault(0.9, "0.9")
)

/**
 * Fraction of generated records that are malformed.
 *
 * @since 0.1.0
 * @category flags
 */
export const invalidRate = parsed("invalid-rate", Parse.fraction, "Fraction of malformed records").pipe(
  withDefault(0, "0")
)

/**
 * Fraction of malformed records the demo generates: a few, so that a demo
 * run shows dead letters without being asked to.
 *
 * @since 0.1.0
 * @category flags
 */
export const demoInvalidRate = parsed("invalid-rate", Parse.fraction, "Fraction of malformed records").pipe(
  withDefault(0.01, "0.01")
)

/**
 * Number of claims in the database (`CLM-000001`..`CLM-<N>`).
 *
 * @since 0.1.0
 * @category flags
 */
export const claims = parsed("claims", Parse.int(1, 99_999_999), "Claims in the database").pipe(
  withDefault(1000, "1000")
)

/**
 * Seed of the generator's pseudo-random numbers; the same seed gives the same events.
 *
 * @since 0.1.0
 * @category flags
 */
export const seed = parsed("seed", Parse.int(0, 2 ** 32 - 1), "Random seed of the generator").pipe(withDefault(1, "1"))

/**
 * Minimum claim amount kept by the large-claims job.
 *
 * @since 0.1.0
 * @category flags
 */
export const threshold = parsed("threshold", money, "Minimum claim amount kept").pipe(
  withDefault(Parse.unsafe(money, "10000.00"), "10000.00")
)

/**
 * When the demo takes the database away, counted from its start.
 *
 * @since 0.1.0
 * @category flags
 */
export const dbOutageAfter = parsed(
  "db-outage-after",
  Parse.duration,
  "Demo chaos: make the database unreachable this long after the start"
).pipe(Flag.optional)

/**
 * How long the demo's database outage lasts.
 *
 * @since 0.1.0
 * @category flags
 */
export const dbOutageFor = parsed("db-outage-for", Parse.duration, "Demo chaos: how long the database stays away").pipe(
  withDefault(Parse.unsafe(Parse.duration, "10s"), "10s")
)

/**
 * `sluice replay`: keep consuming after the failed records present at the
 * start are done, instead of exiting.
 *
 * @since 0.1.0
 * @category flags
 */
export const follow = Flag.Boolean("follow").pipe(
  Flag.withDescription("Keep replaying new failed records instead of exiting once drained"),
  Flag.withDefault(false)
)

/**
 * `sluice replay`: the consumer group of the failed topic, `<group-id>-replay`
 * when absent.
 *
 * @since 0.1.0
 * @category flags
 */
export const replayGroup = parsed(
  "replay-group",
  Parse.nonEmpty,
  "Consumer group of the replay (default: <group-id>-replay)"
).pipe(Flag.optional)

/**
 * When the demo makes the database slow, counted from its start.
 *
 * @since 0.1.0
 * @category flags
 */
export const dbSlowAfter = parsed(
  "db-slow-after",
  Parse.duration,
  "Demo chaos: make the database answer slowly this long after the start"
).pipe(Flag.optional)

/**
 * How long the demo's slow database lasts.
 *
 * @since 0.1.0
 * @category flags
 */
export const dbSlowFor = parsed("db-slow-for", Parse.duration, "Demo chaos: how long the database stays slow").pipe(
  withDefault(Parse.unsafe(Parse.duration, "10s"), "10s")
)

/**
 * Delay the slow database adds to each packet, each way; by default twice
 * `--lookup-timeout`, so that lookups time out (DB_TIMEOUT).
 *
 * @since 0.1.0
 * @category flags
 */
export const dbSlowLatency = parsed(
  "db-slow-latency",
  Parse.duration,
  "Demo chaos: delay added to database traffic, each way (default: twice --lookup-timeout)"
).pipe(Flag.optional)

/**
 * Every tuning flag of the enrich job (shared by `claims enrich` and `demo`).
 *
 * @since 0.1.0
 * @category flags
 */
export const enrichFlags = {
  concurrency,
  ordering,
  cacheSize,
  cacheTtl,
  cacheMissTtl,
  lookupTimeout,
  retryAttempts,
  retryBackoff,
  breakerThreshold,
  breakerWindow,
  breakerCooldown,
  onDbUnavailable
} as const
