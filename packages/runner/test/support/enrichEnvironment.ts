import { assert } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import { EmbeddedKafka, FaultProxy } from "@sluice/testkit"
import { Effect } from "effect"
import * as Claims from "../../src/jobs/claims/ClaimsTable.ts"
import * as Generator from "../../src/jobs/claims/Generator.ts"
import { freshDatabase } from "./database.ts"
import { type Output, topicEnv } from "./kafka.ts"
import { freePort, scrape } from "./metrics.ts"

/** Partitions of every topic of these tests. */
export const partitions = 6

/**
 * What a test of the real `sluice claims enrich` process needs: a fresh
 * database with `claims` seeded claims, reached through a `FaultProxy`; the
 * embedded broker with the input topic created; and the environment that
 * points the CLI at them, with a known observability port.
 */
export const enrichEnvironment = (options: { readonly claims: number; readonly group?: string }) =>
  Effect.gen(function* () {
    const db = yield* freshDatabase("sluice_enrich")
    yield* Claims.migrate(db.sql)
    yield* Claims.seed(db.sql, { count: options.claims, seed: 7 })
    const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: partitions })
    yield* broker.createTopic(topicEnv.PAYMENT_EVENTS_TOPIC, partitions)
    const target = new URL(db.url)
    const proxy = yield* FaultProxy.make({
      target: { host: target.hostname, port: Number(target.port === "" ? 5432 : target.port) }
    })
    const proxied = new URL(db.url)
    proxied.hostname = proxy.host
    proxied.port = String(proxy.port)
    const metricsPort = yield* freePort()
    const group = options.group ?? "enrich"
    const env: Record<string, string> = {
      ...topicEnv,
      KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
      DATABASE_URL: proxied.toString(),
      GROUP_ID: group,
      METRICS_PORT: String(metricsPort)
    }
    return { db, broker, proxy, env, group, metrics: scrape(metricsPort) }
  })

/** A stamp for generated records; the job does not care about the time. */
const epoch = 1_700_000_000_000

/**
 * Generated records `from`..`from + count - 1` of one run: distinct indices
 * give distinct payment ids, so phases of a test never share an id.
 */
export const generate = (
  options: { readonly claims: number; readonly validClaimRate?: number; readonly invalidRate?: number },
  from: number,
  count: number
) =>
  Array.from({ length: count }, (_, i) =>
    Generator.record(
      {
        seed: 21,
        claims: options.claims,
        validClaimRate: options.validClaimRate ?? 0.9,
        invalidRate: options.invalidRate ?? 0
      },
      from + i,
      epoch + from + i
    )
  )

/** Whether a generated record is a payment event (as opposed to a malformed one). */
export const isWellFormed = (r: { readonly kind: Generator.Kind }) => r.kind === "valid" || r.kind === "unknown-claim"

/** What became of one payment. */
export interface Outcome {
  readonly topic: string
  readonly status: string
  readonly errorReason: string | null
  readonly record: Record<string, unknown>
}

const text = new TextDecoder()
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/**
 * Checks that every produced record ended in exactly one place: each payment
 * event once in enriched-payments or failed-payments, each malformed record
 * (byte for byte) once in the dead-letter topic with a reason; and answers
 * each payment's outcome by payment id.
 */
export const accountFor = (
  produced: ReadonlyArray<Generator.GeneratedRecord & { readonly kind: Generator.Kind }>,
  outputs: ReadonlyArray<Output>
): ReadonlyMap<string, Outcome> => {
  const outcomes = new Map<string, Outcome>()
  const deadLetters = new Map<string, number>()
  for (const o of outputs) {
    if (o.topic === topicEnv.PAYMENT_EVENTS_DLQ_TOPIC) {
      assert.isNotEmpty(o.headers[DeadLetter.ReasonHeader] ?? "", "a dead letter without a reason")
      deadLetters.set(hex(o.value), (deadLetters.get(hex(o.value)) ?? 0) + 1)
      continue
    }
    const record = JSON.parse(text.decode(o.value)) as Record<string, unknown>
    const id = String(record.payment_id)
    assert.isFalse(outcomes.has(id), `${id} appears twice`)
    outcomes.set(id, {
      topic: o.topic,
      status: String(record.enrichment_status),
      errorReason: (record.error_reason as string | null | undefined) ?? null,
      record
    })
  }
  const malformed = new Map<string, number>()
  for (const r of produced) {
    if (isWellFormed(r)) {
      const id = paymentId(r)
      assert.isTrue(outcomes.has(id), `${id} has no output`)
    } else malformed.set(hex(r.value), (malformed.get(hex(r.value)) ?? 0) + 1)
  }
  assert.deepStrictEqual(deadLetters, malformed, "dead letters differ from the malformed records produced")
  assert.strictEqual(outcomes.size, produced.filter(isWellFormed).length)
  return outcomes
}

/** The payment id of a well-formed generated record. */
export const paymentId = (r: Generator.GeneratedRecord) =>
  String((JSON.parse(text.decode(r.value)) as { payment_id: string }).payment_id)
