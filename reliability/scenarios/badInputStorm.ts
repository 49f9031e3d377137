// Bad input storm: 10,000 malformed records mixed into valid traffic. The
// generator's malformed kinds (random bytes, truncated JSON, wrong types,
// missing fields, negative amounts, invalid UTF-8) come from `sluice generate
// --invalid-rate`; the kinds it does not produce (absurd amounts, 1 MB values,
// empty and null values, JSON that is not an object, NUL bytes) come from a
// small producer here, interleaved with it. Every malformed record must land in
// the dead-letter topic with a reason header, valid traffic must be enriched
// as usual, and the job must never restart: the same process runs throughout
// and exits 0 on SIGTERM.
import { assert } from "@effect/vitest"
import * as Generator from "@sluice/runner/jobs/claims/Generator"
import { Effect } from "effect"
import type { Message } from "kafkajs"
import * as Checks from "../support/checks.ts"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Scenario from "../support/scenario.ts"

const generated = 30_000
const invalidRate = 0.2
const malformedTotal = 10_000
const seed = 505

const valid = (i: number) => ({
  payment_id: `PAY-extra-${i}`,
  claim_id: Generator.claimId(1 + (i % Scenario.claims)),
  payment_amount: 12.5,
  payment_date: "2026-01-01T00:00:00.000Z",
  processor_id: "PROC-VISA-001"
})

// Malformed records of kind `i % kinds.length`.
const kinds: ReadonlyArray<readonly [string, (i: number) => Buffer | null]> = [
  ["absurd-amount", (i) => Buffer.from(JSON.stringify({ ...valid(i), payment_amount: 1e300 }))],
  [
    "absurd-amount-text",
    (i) => Buffer.from(JSON.stringify({ ...valid(i), payment_amount: "99999999999999999999.99" }))
  ],
  ["too-many-decimals", (i) => Buffer.from(JSON.stringify({ ...valid(i), payment_amount: 0.001 }))],
  ["empty-value", () => Buffer.alloc(0)],
  ["null-value", () => null],
  ["json-array", (i) => Buffer.from(JSON.stringify([valid(i)]))],
  ["json-scalar", (i) => Buffer.from(String(i))],
  ["nul-bytes", () => Buffer.alloc(64)],
  ["empty-ids", (i) => Buffer.from(JSON.stringify({ ...valid(i), payment_id: "", claim_id: "" }))],
  ["bad-date", (i) => Buffer.from(JSON.stringify({ ...valid(i), payment_date: "yesterday" }))]
]
const hugeValues = 8

const message = (kind: string, value: Buffer | null, i: number): Message => ({
  key: Generator.claimId(1 + (i % 97)),
  value,
  headers: { [Checks.kindHeader]: kind }
})

export const badInputStorm = Effect.gen(function* () {
  const s = yield* Scenario.setup("bad_input")
  const fromGenerator = Array.from(
    { length: generated },
    (_, i) => Generator.record({ seed, claims: Scenario.claims, validClaimRate: 0.9, invalidRate }, i, 0).kind
  ).filter((k) => !["valid", "unknown-claim"].includes(k)).length
  const own = malformedTotal - fromGenerator
  assert.isAbove(own, hugeValues, "the generator leaves room for the other kinds")

  const job = yield* Jobs.startEnrich("enrich", s.env)
  const generate = yield* Jobs.startGenerate(s.env, {
    count: generated,
    eventsPerSecond: 1_500,
    seed,
    claims: Scenario.claims,
    invalidRate
  })
  const producer = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const p = s.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await p.connect()
      return p
    }),
    (p) => Effect.promise(() => p.disconnect().catch(() => {}))
  )
  const messages = [
    ...Array.from({ length: hugeValues }, (_, i) =>
      message("huge-value", Buffer.alloc(1_000_000, JSON.stringify(valid(i))), i)
    ),
    ...Array.from({ length: own - hugeValues }, (_, i) => {
      const [kind, make] = kinds[i % kinds.length]!
      return message(kind, make(i), i)
    })
  ].sort(() => Math.random() - 0.5)
  // Spread over the generator's run, in small batches.
  for (let i = 0; i < messages.length; i += 100) {
    yield* Effect.promise(() =>
      producer.send({ topic: Checks.topics.input, acks: -1, messages: messages.slice(i, i + 100) })
    )
    yield* Effect.sleep("250 millis")
  }
  yield* Processes.awaitSuccess(generate, "5 minutes")
  yield* Scenario.drained(s, job)
  const deadLetterMetric = (yield* Jobs.metrics(job))
    .filter((m) => m.name.startsWith("sluice_dead_letters"))
    .reduce((n, m) => n + m.value, 0)
  const exit = yield* Processes.stop(job)
  const r = yield* Scenario.reconcile(s)
  const statuses = new Set(r.outcomes.map((o) => o.status))
  return {
    row: Scenario.row(
      "bad input storm",
      s,
      r,
      `${fromGenerator} malformed from generate, ${own} from the suite; one pid ${job.pid}, exit ${exit.status}`
    ),
    verify: () => {
      Scenario.assertComplete(r)
      assert.strictEqual(r.deadLetters, malformedTotal, "every malformed record is dead-lettered")
      assert.strictEqual(deadLetterMetric, malformedTotal, "sluice_dead_letters_total counts them")
      assert.deepStrictEqual([...statuses].sort(), ["CLAIM_NOT_FOUND", "SUCCESS"], "valid traffic is unaffected")
      assert.strictEqual(exit.status, 0, "the job never restarted and exits 0 on SIGTERM")
    }
  }
})
