/**
 * CPU cost per payment of the claims enrich job's own hot path, without Kafka
 * or a database, against a hand-written loop doing the same work in the same
 * run.
 *
 *   node packages/runner/bench/enrich-cpu.bench.ts [payments] [concurrency]
 *
 * Payments arrive in fetches of 500 records of one partition, tracked with
 * `trackBatch` as the Kafka source does; 1% do not decode, about 90% find
 * their claim. The job is `EnrichJob.run` with a chunk lookup that answers
 * from a map at once and sinks that acknowledge each chunk with
 * `Receipt.ackAll`, as the Kafka sink does after its produce request. The
 * hand-written loop reads the same fetches, `JSON.parse`s each value, looks
 * the claim up in the same map, `JSON.stringify`s the output and acknowledges
 * the fetch (it checks no schema and keeps no decimal exact, so it is a
 * floor, not an equal). CPU time (user + system) of the process, best of
 * three after a warm-up.
 */
import * as Envelope from "@sluice/core/Envelope"
import * as OffsetTracker from "@sluice/core/OffsetTracker"
import * as Receipt from "@sluice/core/Receipt"
import { BigDecimal, DateTime, Effect, Sink, Stream } from "effect"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as EnrichJob from "../src/jobs/claims/EnrichJob.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

const n = Number(process.argv[2] ?? 100_000)
const concurrency = Number(process.argv[3] ?? 64)
const fetchSize = 500
const partitions = 6
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const claims = new Map<string, Enrichment.Claim>()
const values: Array<Uint8Array> = []
for (let i = 0; i < n; i++) {
  const claimId = Claims.claimId(i + 1)
  if (i % 10 !== 3) {
    claims.set(claimId, {
      member_id: `MEM-${i % 977}`,
      claim_amount: BigDecimal.make(BigInt(250_000 + i), 2),
      claim_status: "APPROVED"
    })
  }
  values.push(
    i % 100 === 7
      ? encoder.encode(`{"payment_id":"PAY-${i}","claim_id":"${claimId}","payment_amount":-1}`)
      : PaymentEvent.encode({
          payment_id: `PAY-${i}`,
          claim_id: claimId,
          payment_amount: BigDecimal.make(BigInt(10_000 + i), 2),
          payment_date: DateTime.makeUnsafe(1_700_000_000_000 + i),
          processor_id: "PROC-1",
          payment_method: "ACH"
        })
  )
}

// Fetches of one partition each, offsets increasing per partition.
interface Fetch {
  readonly tp: OffsetTracker.TopicPartition
  readonly offsets: ReadonlyArray<bigint>
  readonly origins: ReadonlyArray<Envelope.Origin>
  readonly values: ReadonlyArray<Uint8Array>
}
const fetches: Array<Fetch> = []
const next = Array.from({ length: partitions }, () => 0n)
for (let at = 0, f = 0; at < n; at += fetchSize, f++) {
  const partition = f % partitions
  const tp = { topic: "payment-events", partition }
  const slice = values.slice(at, at + fetchSize)
  const offsets = slice.map(() => next[partition]++)
  const origins = offsets.map((offset, i) => ({
    topic: tp.topic,
    partition,
    offset,
    key: encoder.encode(`CLM-${at + i}`),
    headers: [],
    timestamp: 0
  }))
  fetches.push({ tp, offsets, origins, values: slice })
}

const source = (tracker: OffsetTracker.OffsetTracker) =>
  Stream.fromIterable(fetches).pipe(
    Stream.mapEffect((fetch) =>
      Effect.as(
        tracker.trackBatch(fetch.tp, fetch.offsets),
        fetch.origins.map((o, i) => Envelope.make<Envelope.Payload>(o, fetch.values[i]!, tracker.receipt(o)))
      )
    ),
    Stream.flattenIterable,
    Stream.rechunk(fetchSize)
  )

const sink = <A>(): Sink.Sink<void, Envelope.Envelope<A>> =>
  Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) => Receipt.ackAll(chunk.map((e) => e.receipt)))

const lookup = EnrichJob.perChunk((ids) =>
  Effect.succeed(
    ids.map((id) => {
      const claim = claims.get(id)
      return claim === undefined ? Enrichment.notFound : Enrichment.found(claim)
    })
  )
)

const check = (tracker: OffsetTracker.OffsetTracker) =>
  Effect.flatMap(tracker.completed, (done) =>
    done === n ? Effect.void : Effect.die(new Error(`${done} of ${n} payments acknowledged`))
  )

const job = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 100_000 })
  yield* EnrichJob.run({
    records: source(tracker),
    sinks: { enriched: sink(), failed: sink(), deadLetters: sink() },
    lookup,
    concurrency,
    ordering: "key"
  })
  yield* check(tracker)
})

const handWritten = Effect.gen(function* () {
  const tracker = yield* OffsetTracker.make({ maxInFlight: 100_000 })
  yield* Stream.runForEachArray(source(tracker), (chunk) =>
    Effect.suspend(() => {
      const now = new Date().toISOString()
      for (const e of chunk) {
        const payment = JSON.parse(decoder.decode(e.value as Uint8Array))
        const claim = claims.get(payment.claim_id)
        const out = {
          ...payment,
          member_id: claim?.member_id ?? null,
          claim_amount: claim === undefined ? null : BigDecimal.format(claim.claim_amount),
          claim_status: claim?.claim_status ?? null,
          enrichment_status: claim === undefined ? "CLAIM_NOT_FOUND" : "SUCCESS",
          enrichment_timestamp: now,
          error_reason: claim === undefined ? "not found" : null
        }
        encoder.encode(JSON.stringify(out))
      }
      return Receipt.ackAll(chunk.map((e) => e.receipt))
    })
  )
  yield* check(tracker)
})

const cpu = async (effect: Effect.Effect<unknown>): Promise<number> => {
  await Effect.runPromise(effect)
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage()
    await Effect.runPromise(effect)
    const used = process.cpuUsage(start)
    best = Math.min(best, used.user + used.system)
  }
  return best
}

const main = async () => {
  console.log(`payments: ${n}, fetches of ${fetchSize}, node ${process.version}`)
  const base = await cpu(handWritten)
  const full = await cpu(job)
  const line = (name: string, micros: number) =>
    console.log(
      `${name.padEnd(44)} ${(micros / n).toFixed(2).padStart(7)} µs CPU/payment   ${(micros / base).toFixed(2)}x hand-written`
    )
  line("hand-written: parse, look up, stringify", base)
  line("EnrichJob.run, chunk lookup", full)
}

main()
