import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Duration, Effect, Option, Ref } from "effect"
import { CliOutput, Command } from "effect/cli"
import * as Flags from "../src/Flags.ts"
import * as ClaimsFlags from "../src/jobs/claims/ClaimsFlags.ts"

// The job commands are not registered yet; a throwaway command checks that
// the flags they will use parse and reject values as documented.
const tuning = {
  concurrency: ClaimsFlags.concurrency,
  ordering: ClaimsFlags.ordering,
  cacheSize: ClaimsFlags.cacheSize,
  cacheTtl: ClaimsFlags.cacheTtl,
  cacheMissTtl: ClaimsFlags.cacheMissTtl,
  lookupTimeout: ClaimsFlags.lookupTimeout,
  retryAttempts: ClaimsFlags.retryAttempts,
  retryBackoff: ClaimsFlags.retryBackoff,
  breakerThreshold: ClaimsFlags.breakerThreshold,
  breakerWindow: ClaimsFlags.breakerWindow,
  breakerCooldown: ClaimsFlags.breakerCooldown,
  onDbUnavailable: ClaimsFlags.onDbUnavailable,
  eventsPerSecond: ClaimsFlags.eventsPerSecond,
  validClaimRate: ClaimsFlags.validClaimRate,
  invalidRate: ClaimsFlags.invalidRate,
  duration: Flags.duration,
  count: Flags.count,
  claims: ClaimsFlags.claims,
  seed: ClaimsFlags.seed,
  threshold: ClaimsFlags.threshold,
  port: Flags.port
}

type Parsed = Command.Command.Config.Infer<typeof tuning>

const parse = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<Option.Option<Parsed>>(Option.none())
    const errors = yield* Ref.make<Array<string>>([])
    const command = Command.make("probe", tuning, (input) => Ref.set(seen, Option.some(input)))
    yield* Command.runWith(command, { version: "0" })(args).pipe(
      Effect.provide(
        CliOutput.layerPresenter({
          present: (event) =>
            event._tag === "InvalidInvocation"
              ? Ref.update(errors, (e) => [...e, ...event.errors.map((x) => x.message)])
              : Effect.void
        })
      ),
      Effect.ignore
    )
    return { parsed: yield* Ref.get(seen), errors: yield* Ref.get(errors) }
  }).pipe(Effect.provide(NodeServices.layer))

const demoFlags = {
  invalidRate: ClaimsFlags.demoInvalidRate,
  dbOutageAfter: ClaimsFlags.dbOutageAfter,
  dbOutageFor: ClaimsFlags.dbOutageFor,
  dbSlowAfter: ClaimsFlags.dbSlowAfter,
  dbSlowFor: ClaimsFlags.dbSlowFor,
  dbSlowLatency: ClaimsFlags.dbSlowLatency
}

const parseDemo = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<Option.Option<Command.Command.Config.Infer<typeof demoFlags>>>(Option.none())
    const command = Command.make("demo-probe", demoFlags, (input) => Ref.set(seen, Option.some(input)))
    yield* Command.runWith(command, { version: "0" })(args).pipe(Effect.ignore)
    return Option.getOrThrow(yield* Ref.get(seen))
  }).pipe(Effect.provide(NodeServices.layer))

describe("Flags", () => {
  it.effect("demo - a few malformed records by default; chaos windows only when asked for", () =>
    Effect.gen(function* () {
      const defaults = yield* parseDemo([])
      assert.strictEqual(defaults.invalidRate, 0.01)
      assert.isTrue(Option.isNone(defaults.dbOutageAfter))
      assert.isTrue(Option.isNone(defaults.dbSlowAfter))
      assert.isTrue(Option.isNone(defaults.dbSlowLatency))
      assert.strictEqual(Duration.toMillis(defaults.dbSlowFor), 10_000)
      const given = yield* parseDemo([
        "--invalid-rate",
        "0",
        "--db-slow-after",
        "5s",
        "--db-slow-for",
        "2s",
        "--db-slow-latency",
        "750ms"
      ])
      assert.strictEqual(given.invalidRate, 0)
      assert.deepStrictEqual(Option.map(given.dbSlowAfter, Duration.toMillis), Option.some(5000))
      assert.strictEqual(Duration.toMillis(given.dbSlowFor), 2000)
      assert.deepStrictEqual(Option.map(given.dbSlowLatency, Duration.toMillis), Option.some(750))
    })
  )

  it.effect("defaults - every tuning flag has its documented default", () =>
    Effect.gen(function* () {
      const { parsed } = yield* parse([])
      const p = Option.getOrThrow(parsed)
      assert.strictEqual(p.concurrency, 2048)
      assert.strictEqual(p.ordering, "key")
      assert.strictEqual(Duration.toMillis(p.lookupTimeout), 5000)
      assert.strictEqual(Duration.toMillis(p.retryBackoff), 100)
      assert.strictEqual(p.onDbUnavailable, "route")
      assert.isTrue(Option.isNone(p.duration))
      assert.isTrue(BigDecimal.equals(p.threshold, BigDecimal.fromStringUnsafe("10000")))
    })
  )

  it.effect("parse - durations, fractions, literals and amounts from text", () =>
    Effect.gen(function* () {
      const { parsed, errors } = yield* parse([
        "--lookup-timeout",
        "250ms",
        "--breaker-cooldown",
        "2m",
        "--valid-claim-rate",
        "0.95",
        "--ordering",
        "unordered",
        "--on-db-unavailable",
        "pause",
        "--threshold",
        "2500.5",
        "--count",
        "1000"
      ])
      assert.deepStrictEqual(errors, [])
      const p = Option.getOrThrow(parsed)
      assert.strictEqual(Duration.toMillis(p.lookupTimeout), 250)
      assert.strictEqual(Duration.toMillis(p.breakerCooldown), 120_000)
      assert.strictEqual(p.validClaimRate, 0.95)
      assert.strictEqual(p.ordering, "unordered")
      assert.strictEqual(p.onDbUnavailable, "pause")
      assert.isTrue(BigDecimal.equals(p.threshold, BigDecimal.fromStringUnsafe("2500.50")))
      assert.deepStrictEqual(p.count, Option.some(1000))
    })
  )

  it.effect("parse - a bad value is rejected with a message naming the flag", () =>
    Effect.gen(function* () {
      const { parsed, errors } = yield* parse(["--valid-claim-rate", "1.5"])
      assert.isTrue(Option.isNone(parsed))
      assert.strictEqual(errors.length, 1)
      assert.strictEqual(
        errors[0],
        'Invalid value for flag --valid-claim-rate: "1.5". Expected: a fraction between 0 and 1'
      )
      const ordering = yield* parse(["--ordering", "random"])
      assert.include(ordering.errors[0], "Expected: one of ordered, key, unordered")
    })
  )
})
