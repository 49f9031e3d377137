/**
 * The README's in-memory pipeline: payments are decoded, malformed ones go to
 * a dead-letter topic, the rest are "enriched" and routed by their status.
 * Run it with `node examples/pipeline.ts`; the last line is a JSON summary.
 */
// #region readme
import { InMemory, Pipeline } from "@sluice/core"
import { Effect, Schema } from "effect"

const Payment = Schema.Struct({ payment_id: Schema.String, claim_id: Schema.String })
// knownClaims, a set of claim ids, stands in for a lookup of the claim
const enrich = (p: typeof Payment.Type) =>
  Effect.succeed({ ...p, status: knownClaims.has(p.claim_id) ? "SUCCESS" : "CLAIM_NOT_FOUND" })

const job = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const records = yield* InMemory.source(broker, { topic: "payments", group: "enricher" })
    yield* records.pipe(
      Pipeline.decode(Schema.fromJsonString(Payment)), // undecodable input becomes a dead letter
      Pipeline.deadLetters(InMemory.sink(broker, "payments-dlq")),
      Pipeline.mapEffect(enrich, { concurrency: 64, ordering: "key" }), // or "ordered" | "unordered"
      Pipeline.route((r) =>
        r.status === "SUCCESS"
          ? [Pipeline.to("enriched", JSON.stringify(r))]
          : [Pipeline.to("failed", JSON.stringify(r), r.status)]
      ),
      Pipeline.runRouted({
        enriched: InMemory.sink(broker, "enriched-payments"),
        failed: InMemory.sink(broker, "failed-payments")
      })
    )
  }).pipe(Effect.scoped) // closing the scope makes the final commit
// #endregion

/** The claims the stand-in enrichment knows. */
export const knownClaims: ReadonlySet<string> = new Set(["CLM-000001", "CLM-000002"])

/** The records produced to `payments`: JSON payments, and two that are not. */
export const inputs: ReadonlyArray<{ readonly key: string; readonly value: string }> = [
  { key: "CLM-000001", value: JSON.stringify({ payment_id: "PAY-1", claim_id: "CLM-000001" }) },
  { key: "CLM-000002", value: JSON.stringify({ payment_id: "PAY-2", claim_id: "CLM-000002" }) },
  { key: "CLM-000009", value: JSON.stringify({ payment_id: "PAY-3", claim_id: "CLM-000009" }) },
  { key: "CLM-000001", value: JSON.stringify({ payment_id: "PAY-4", claim_id: "CLM-000001" }) },
  { key: "CLM-000003", value: "{not json" },
  { key: "CLM-000004", value: JSON.stringify({ payment_id: "PAY-6" }) }
]

const text = new TextDecoder()
const read = (broker: InMemory.Broker, topic: string) =>
  Effect.map(InMemory.messages(broker, topic), (messages) =>
    messages.map((m) => (typeof m.value === "string" || m.value === null ? m.value : text.decode(m.value)))
  )

const main = Effect.gen(function* () {
  const broker = yield* InMemory.make
  yield* InMemory.createTopic(broker, "payments", 3)
  yield* InMemory.produce(broker, "payments", inputs)
  yield* job(broker)
  const enriched = (yield* read(broker, "enriched-payments")).map((v) => JSON.parse(v ?? "null").payment_id)
  const failed = (yield* read(broker, "failed-payments")).map((v) => JSON.parse(v ?? "null").payment_id)
  const deadLetters = (yield* read(broker, "payments-dlq")).length
  const committed = Object.fromEntries(
    [...(yield* InMemory.committed(broker, "enricher", "payments"))].map(([p, o]) => [p, Number(o)])
  )
  console.log(`produced ${inputs.length} records to payments`)
  console.log(`enriched-payments: ${enriched.join(", ")}`)
  console.log(`failed-payments:   ${failed.join(", ")}`)
  console.log(`payments-dlq:      ${deadLetters} records`)
  console.log(`committed offsets: ${JSON.stringify(committed)}`)
  console.log(JSON.stringify({ enriched, failed, deadLetters, committed }))
})

if (import.meta.main) Effect.runPromise(main)
