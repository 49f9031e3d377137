import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Result, Schema } from "effect"
import * as fc from "fast-check"
import * as ChangeEvent from "../src/ChangeEvent.ts"
import * as Debezium from "../src/Debezium.ts"
import * as Temporal from "../src/Temporal.ts"
import { property } from "./property.ts"

// 1900-01-01 .. 2200-01-01 in nanoseconds.
const instant = fc.bigInt({ min: -2_208_988_800_000_000_000n, max: 7_258_118_400_000_000_000n })

// ISO text from the platform's own formatter, with the nanoseconds spelled out.
const referenceIso = (ns: bigint): string => {
  const ms = Number(ns / 1_000_000n) - (ns % 1_000_000n < 0n ? 1 : 0)
  const sub = ns - BigInt(Math.floor(ms / 1000)) * 1_000_000_000n
  const fraction = sub === 0n ? "" : `.${sub.toString().padStart(9, "0").replace(/0+$/, "")}`
  return `${new Date(ms).toISOString().slice(0, 19)}${fraction}Z`
}

const codec = Debezium.changeEvent(
  Schema.Struct({
    ms: Temporal.timestamp,
    micros: Temporal.microTimestamp,
    nanos: Temporal.nanoTimestamp,
    zoned: Temporal.zonedTimestamp,
    day: Temporal.date,
    t: Temporal.time,
    micro_t: Temporal.microTime,
    nano_t: Temporal.nanoTime,
    zoned_t: Temporal.zonedTime
  })
)

describe("Temporal", () => {
  it("decode - each Debezium time type", () => {
    const decode = <T, E>(s: Schema.Codec<T, E>, v: unknown) => Schema.decodeUnknownSync(s)(v)
    assert.strictEqual(DateTime.formatIso(decode(Temporal.date, 20528)), "2026-03-16T00:00:00.000Z")
    assert.strictEqual(DateTime.formatIso(decode(Temporal.date, -1)), "1969-12-31T00:00:00.000Z")
    assert.strictEqual(Duration.toNanosUnsafe(decode(Temporal.time, 34_013_589)), 34_013_589_000_000n)
    assert.strictEqual(Duration.toNanosUnsafe(decode(Temporal.microTime, 34_013_589_793)), 34_013_589_793_000n)
    assert.strictEqual(Duration.toNanosUnsafe(decode(Temporal.nanoTime, 34_013_589_793_123)), 34_013_589_793_123n)
    assert.strictEqual(Duration.toNanosUnsafe(decode(Temporal.zonedTime, "09:26:53.589793Z")), 34_013_589_793_000n)
    assert.strictEqual(Duration.toNanosUnsafe(decode(Temporal.zonedTime, "01:00:00+02:00")), 82_800_000_000_000n)
    assert.strictEqual(decode(Temporal.timestamp, 1_773_480_420_000), 1_773_480_420_000_000_000n)
    assert.strictEqual(decode(Temporal.microTimestamp, 1_773_480_413_589_793), 1_773_480_413_589_793_000n)
    assert.strictEqual(decode(Temporal.nanoTimestamp, 1_773_480_413_589_793_123n), 1_773_480_413_589_793_123n)
    assert.strictEqual(decode(Temporal.zonedTimestamp, "2026-03-14T09:26:53.589793Z"), 1_773_480_413_589_793_000n)
    assert.strictEqual(decode(Temporal.zonedTimestamp, "2026-03-14T11:26:53.589793+02:00"), 1_773_480_413_589_793_000n)
    assert.throws(() => decode(Temporal.zonedTimestamp, "2026-03-14 09:26:53"))
    assert.throws(() => decode(Temporal.time, 86_400_000))
    assert.throws(() => decode(Temporal.microTimestamp, 1.5))
  })

  it.effect("decode - a NanoTimestamp past 2^53 keeps every digit through JSON", () =>
    Effect.gen(function* () {
      const nanos = Debezium.changeEvent(Schema.Struct({ at: Temporal.nanoTimestamp }))
      const text = '{"before":null,"after":{"at":1773480413589793123},"source":{"ts_ms":1},"op":"c"}'
      const e = (yield* nanos.decode(text)) as ChangeEvent.ChangeEvent<{ readonly at: bigint }>
      assert.strictEqual(e.after!.at, 1_773_480_413_589_793_123n)
      assert.include(yield* nanos.encode(e), '"at":1773480413589793123')
    })
  )

  it("formatZonedTimestamp - agrees with the platform's ISO formatter", () => {
    fc.assert(
      fc.property(instant, (ns) => {
        const text = Temporal.formatZonedTimestamp(ns)
        assert.strictEqual(text, referenceIso(ns))
        assert.strictEqual(Result.getOrThrow(Temporal.parseZonedTimestamp(text)), ns)
      })
    )
  })

  it("toEpochMillis - rounds down, also before 1970", () => {
    assert.strictEqual(Temporal.toEpochMillis(-1n), -1)
    assert.strictEqual(Temporal.toEpochMillis(1_999_999n), 1)
    assert.strictEqual(DateTime.toEpochMillis(Temporal.toDateTime(-1_000_001n)), -2)
    assert.strictEqual(Temporal.fromDateTime(DateTime.makeUnsafe(5)), 5_000_000n)
  })

  it.effect("encode → decode - random timestamps and times of day in every type, schemas on and off", () =>
    property(
      fc.record({
        ns: instant,
        days: fc.integer({ min: -25_000, max: 80_000 }),
        tod: fc.bigInt({ min: 0n, max: 86_399_999_999_999n }),
        schemas: fc.boolean()
      }),
      ({ ns, days, tod, schemas }) =>
        Effect.gen(function* () {
          const floor = (n: bigint, unit: bigint) => n - (((n % unit) + unit) % unit)
          const row = {
            ms: floor(ns, 1_000_000n),
            micros: floor(ns, 1_000n),
            nanos: ns,
            zoned: ns,
            day: DateTime.makeUnsafe(days * 86_400_000),
            t: Duration.nanos(floor(tod, 1_000_000n)),
            micro_t: Duration.nanos(floor(tod, 1_000n)),
            nano_t: Duration.nanos(tod),
            zoned_t: Duration.nanos(tod)
          }
          const event = ChangeEvent.make({ op: "c", before: null, after: row, source: { ts_ms: 0 } })
          const back = (yield* codec.decode((yield* codec.encode(event, { schemas }))!)) as typeof event
          const after = back.after!
          assert.strictEqual(after.ms, row.ms)
          assert.strictEqual(after.micros, row.micros)
          assert.strictEqual(after.nanos, row.nanos)
          assert.strictEqual(after.zoned, row.zoned)
          assert.strictEqual(DateTime.toEpochMillis(after.day), days * 86_400_000)
          assert.strictEqual(Duration.toNanosUnsafe(after.t), Duration.toNanosUnsafe(row.t))
          assert.strictEqual(Duration.toNanosUnsafe(after.micro_t), Duration.toNanosUnsafe(row.micro_t))
          assert.strictEqual(Duration.toNanosUnsafe(after.nano_t), tod)
          assert.strictEqual(Duration.toNanosUnsafe(after.zoned_t), tod)
        })
    )
  )

  it("encode - refuses values finer than the column", () => {
    assert.throws(() => Schema.encodeSync(Temporal.microTimestamp)(1_500n))
    assert.throws(() => Schema.encodeSync(Temporal.date)(DateTime.makeUnsafe(1)))
    assert.throws(() => Schema.encodeSync(Temporal.time)(Duration.nanos(1n)))
  })
})
