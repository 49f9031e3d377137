/**
 * CPU cost per record of the claims job's codecs, against `JSON.parse` and
 * `JSON.stringify` of the same records measured in the same run.
 *
 *   node packages/runner/bench/claims-codec.bench.ts [records]
 *
 * - decode: `PaymentEvent.decode` (plain code for a well-formed payment) and
 *   `PaymentEvent.decodeSchema` (the schema pass) against UTF-8 decoding and
 *   `JSON.parse` of the same bytes.
 * - encode: `EnrichedPayment.encode` of enriched payments that share one
 *   enrichment timestamp (as a chunk's do) against `JSON.stringify` and UTF-8
 *   encoding of the same payments as plain JSON objects.
 *
 * CPU time (user + system), best of five after a warm-up.
 */
import { BigDecimal, DateTime, Result } from "effect"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

const n = Number(process.argv[2] ?? 100_000)
const decoder = new TextDecoder()
const encoder = new TextEncoder()

const values = Array.from({ length: n }, (_, i) =>
  PaymentEvent.encode({
    payment_id: `PAY-${i}`,
    claim_id: `CLM-${String(i).padStart(6, "0")}`,
    payment_amount: BigDecimal.make(BigInt(10_000 + i), 2),
    payment_date: DateTime.makeUnsafe(1_700_000_000_000 + i * 1_000),
    processor_id: "PROC-1",
    payment_method: "ACH"
  })
)
const claim = { member_id: "MEM-1", claim_amount: BigDecimal.make(250_000n, 2), claim_status: "APPROVED" }
const now = DateTime.makeUnsafe(1_700_000_000_000)
const records = values.map(
  (v) => Enrichment.enrichmentResult(Result.getOrThrow(PaymentEvent.decode(v)), Enrichment.found(claim), now).record
)
const plain = values.map((v) => ({
  ...JSON.parse(decoder.decode(v)),
  member_id: "MEM-1",
  claim_amount: 2500,
  claim_status: "APPROVED",
  enrichment_status: "SUCCESS",
  enrichment_timestamp: "2023-11-14T22:13:20.000Z",
  error_reason: null
}))

const cpu = (f: () => void): number => {
  f()
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 5; i++) {
    const start = process.cpuUsage()
    f()
    const used = process.cpuUsage(start)
    best = Math.min(best, used.user + used.system)
  }
  return best / n
}

const line = (name: string, micros: number, baseline: number) =>
  console.log(`${name.padEnd(40)} ${micros.toFixed(2).padStart(6)} µs CPU/record   ${(micros / baseline).toFixed(2)}x`)

console.log(`records: ${n}, node ${process.version}`)
const parse = cpu(() => {
  for (const v of values) JSON.parse(decoder.decode(v))
})
line("baseline: UTF-8 decode + JSON.parse", parse, parse)
const each = (f: (bytes: Uint8Array) => unknown) => () => {
  for (const v of values) f(v)
}
line("PaymentEvent.decode", cpu(each(PaymentEvent.decode)), parse)
line("PaymentEvent.decodeSchema", cpu(each(PaymentEvent.decodeSchema)), parse)
const stringify = cpu(() => {
  for (const p of plain) encoder.encode(JSON.stringify(p))
})
line("baseline: JSON.stringify + UTF-8 encode", stringify, stringify)
line(
  "EnrichedPayment.encode",
  cpu(() => {
    for (const r of records) EnrichedPayment.encode(r)
  }),
  stringify
)
