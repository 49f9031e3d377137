/**
 * Encode then decode of payments, Avro with the schema registry versus JSON,
 * in the same run (so the ratio holds on a noisy machine; absolute figures
 * depend on it).
 *
 *   node packages/kafka/bench/serde.bench.ts [records]
 *
 * - json: `Serde.json` with the payment as JSON text (amounts as exact
 *   decimal strings, dates as ISO-8601), the format of the claims topics;
 * - avro: `AvroSerde` with `payment.avsc` (decimal(10, 2) bytes,
 *   timestamp-millis), framed in the Confluent wire format; the schema id
 *   comes from the embedded registry once, as it would from a real one.
 *
 * Both produce and take the same typed values (BigDecimal amounts, DateTime
 * dates) through an Effect codec, so the figures compare whole serdes. The
 * records (1,000,000 by default) cycle over 10,000 generated payments. The
 * two formats alternate for `BENCH_ROUNDS` rounds (3 by default); rates are
 * medians over the rounds and each ratio is the median of the rounds' Avro /
 * JSON ratios. The process's CPU time (user + system) per phase is reported
 * beside wall time, being steadier on a shared machine. Results go to stdout
 * as a table and to `bench/results/serde.json` (with every round's times).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { SchemaRegistry as EmbeddedRegistry } from "@sluice/testkit"
import { BigDecimal, DateTime, Effect, Schema } from "effect"
import * as AvroSerde from "../src/AvroSerde.ts"
import * as SchemaRegistry from "../src/SchemaRegistry.ts"
import * as Serde from "../src/Serde.ts"

const records = Number(process.argv[2] ?? 1_000_000)
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3))
const distinct = 10_000

const schemaText = readFileSync(join(import.meta.dirname, "..", "schemas", "payment.avsc"), "utf8")

const fields = {
  payment_id: Schema.String,
  claim_id: Schema.String,
  processor_id: Schema.String,
  payment_method: Schema.NullOr(Schema.String),
  payment_status: Schema.NullOr(Schema.String)
}
const AvroPayment = Schema.Struct({
  ...fields,
  payment_amount: Schema.BigDecimal,
  payment_date: Schema.DateTimeUtc
})
const JsonPayment = Schema.Struct({
  ...fields,
  payment_amount: Schema.BigDecimalFromString,
  payment_date: Schema.DateTimeUtcFromString
})
type Payment = typeof AvroPayment.Type

// Deterministic payments shaped like the generator's: ids, a claim id, up to
// 10,000.00 with two decimals, a date in 2024.
const payments: ReadonlyArray<Payment> = Array.from({ length: distinct }, (_, i) => ({
  payment_id: `PAY-${String(i).padStart(8, "0")}`,
  claim_id: `CLM-${String(1 + ((i * 7919) % 10_000)).padStart(6, "0")}`,
  payment_amount: BigDecimal.make(BigInt((i * 104_729) % 1_000_000) + 1n, 2),
  payment_date: DateTime.makeUnsafe(1_704_067_200_000 + i * 3_141_592),
  processor_id: `PROC-${i % 17}`,
  payment_method: i % 3 === 0 ? null : "card",
  payment_status: "completed"
}))

interface Measure {
  readonly encodeMs: number
  readonly decodeMs: number
  /** CPU time of the process (user + system) per phase: steadier than wall time on a shared machine. */
  readonly encodeCpuMs: number
  readonly decodeCpuMs: number
  readonly bytesPerRecord: number
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

const measure = (serde: Serde.Serde<Payment>): Effect.Effect<Measure, unknown> =>
  Effect.gen(function* () {
    const encoded: Array<Uint8Array> = new Array(distinct)
    let bytes = 0
    const encodeStart = performance.now()
    const encodeCpu = process.cpuUsage()
    for (let i = 0; i < records; i++) {
      const out = yield* serde.encode(payments[i % distinct] as Payment)
      bytes += out.length
      encoded[i % distinct] = out
    }
    const encodeMs = performance.now() - encodeStart
    const encodeCpuMs = cpuMs(encodeCpu)
    let check = 0
    const decodeStart = performance.now()
    const decodeCpu = process.cpuUsage()
    for (let i = 0; i < records; i++) {
      const value = yield* serde.decode(encoded[i % distinct] as Uint8Array)
      check += value.payment_id.length
    }
    const decodeMs = performance.now() - decodeStart
    const decodeCpuMs = cpuMs(decodeCpu)
    if (check === 0) throw new Error("nothing decoded")
    return { encodeMs, decodeMs, encodeCpuMs, decodeCpuMs, bytesPerRecord: bytes / records }
  })

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const program = Effect.gen(function* () {
  const registry = yield* EmbeddedRegistry.make()
  const avro = yield* AvroSerde.make({ topic: "payment-events", schema: schemaText, codec: AvroPayment }).pipe(
    Effect.provide(SchemaRegistry.layer({ url: registry.url }))
  )
  const json = Serde.json(JsonPayment)
  // The two serdes must agree on every value before their speed means anything.
  for (const payment of payments.slice(0, 100)) {
    const viaAvro = yield* avro.decode(yield* avro.encode(payment))
    const viaJson = yield* json.decode(yield* json.encode(payment))
    if (!BigDecimal.equals(viaAvro.payment_amount, viaJson.payment_amount)) throw new Error("amounts differ")
    if (DateTime.toEpochMillis(viaAvro.payment_date) !== DateTime.toEpochMillis(viaJson.payment_date)) {
      throw new Error("dates differ")
    }
  }
  const runs: Record<"json" | "avro", Array<Measure>> = { json: [], avro: [] }
  for (let round = 0; round < rounds; round++) {
    runs.json.push(yield* measure(json))
    runs.avro.push(yield* measure(avro))
  }
  const perSecond = (ms: number) => Math.round(records / (ms / 1000))
  const summary = (name: "json" | "avro") => {
    const of = (f: (m: Measure) => number) => median(runs[name].map(f))
    return {
      encodePerSecond: perSecond(of((m) => m.encodeMs)),
      decodePerSecond: perSecond(of((m) => m.decodeMs)),
      roundTripsPerSecond: perSecond(of((m) => m.encodeMs + m.decodeMs)),
      roundTripsPerCpuSecond: perSecond(of((m) => m.encodeCpuMs + m.decodeCpuMs)),
      bytesPerRecord: Number((runs[name][0] as Measure).bytesPerRecord.toFixed(1))
    }
  }
  // Avro / JSON within each round (the two ran back to back), then the median over rounds:
  // above 1 means Avro is faster (or, for bytes, larger).
  const ratio = (f: (m: Measure) => number) =>
    Number(median(runs.avro.map((m, i) => f(runs.json[i] as Measure) / f(m))).toFixed(2))
  const result = {
    records,
    rounds,
    json: summary("json"),
    avro: summary("avro"),
    ratios: {
      encodePerSecond: ratio((m) => m.encodeMs),
      decodePerSecond: ratio((m) => m.decodeMs),
      roundTripsPerSecond: ratio((m) => m.encodeMs + m.decodeMs),
      roundTripsPerCpuSecond: ratio((m) => m.encodeCpuMs + m.decodeCpuMs),
      bytesPerRecord: Number((summary("avro").bytesPerRecord / summary("json").bytesPerRecord).toFixed(2))
    },
    rawRounds: runs
  }
  console.log(`serde: ${records} payments encoded then decoded, ${rounds} rounds (medians)`)
  console.log("| format | encode/s | decode/s | encode+decode/s | encode+decode per CPU-s | bytes per record |")
  console.log("| --- | --- | --- | --- | --- | --- |")
  for (const name of ["json", "avro"] as const) {
    const s = result[name]
    console.log(
      `| ${name} | ${s.encodePerSecond} | ${s.decodePerSecond} | ${s.roundTripsPerSecond} | ${s.roundTripsPerCpuSecond} | ${s.bytesPerRecord} |`
    )
  }
  const r = result.ratios
  console.log(
    `| avro / json (median of rounds) | ${r.encodePerSecond} | ${r.decodePerSecond} | ${r.roundTripsPerSecond} | ${r.roundTripsPerCpuSecond} | ${r.bytesPerRecord} |`
  )
  const dir = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "serde.json"), `${JSON.stringify(result, null, 2)}\n`)
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
