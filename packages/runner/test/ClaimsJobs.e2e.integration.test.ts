// End to end: the real `sluice claims enrich` and `sluice claims large`
// processes against the embedded broker and the claims database, once with the
// machine's PostgreSQL and once with a DuckDB file seeded alike. 10,000
// generated payments (90% known claim ids, 1% malformed) must each end up in
// exactly one of enriched-payments, failed-payments or the dead-letter topic,
// with statuses and values matching the database, and large-claims must hold
// exactly the enriched payments at or above the threshold.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { BigDecimal, Effect, type Scope } from "effect"
import * as ClaimsDatabase from "../src/jobs/claims/ClaimsDatabase.ts"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import { freshDatabase } from "./support/database.ts"
import { produce, readerClient, readTopics, topicEnv as topics } from "./support/kafka.ts"
import { sluiceJob as job, stopSluice as stop } from "./support/spawnSluice.ts"

const text = new TextDecoder()
const total = 10_000
const claims = 2_000
const threshold = "50000.00"

interface ClaimRow {
  readonly claim_id: string
  readonly member_id: string
  readonly claim_amount: string
}

/** A seeded claims database: the URL the jobs get, and its rows as the database itself returns them. */
type Seeded = Effect.Effect<{ readonly url: string; readonly rows: ReadonlyArray<ClaimRow> }, unknown, Scope.Scope>

const postgresDatabase: Seeded = Effect.gen(function* () {
  const db = yield* freshDatabase("sluice_e2e")
  yield* Claims.migrate(db.sql)
  yield* Claims.seed(db.sql, { count: claims, seed: 7 })
  const rows = yield* Effect.promise(
    () => db.sql<Array<ClaimRow>>`SELECT claim_id, member_id, claim_amount::text AS claim_amount FROM claims`
  )
  return { url: db.url, rows }
})

// Seeded by `sluice db seed`'s code with a writer that is closed before the
// jobs start, as a user would; the jobs then open the file read-only.
const duckDbDatabase: Seeded = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-e2e-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const path = Path.join(dir, "claims.duckdb")
  const rows = yield* Effect.scoped(
    Effect.gen(function* () {
      const db = yield* ClaimsDatabase.openDuckDb(path, { readOnly: false })
      yield* ClaimsDatabase.migrate(db)
      yield* ClaimsDatabase.seed(db, { count: claims, seed: 7 })
      return db._tag === "DuckDb"
        ? ((yield* Effect.promise(() =>
            db.client.sql.query("SELECT claim_id, member_id, claim_amount::VARCHAR AS claim_amount FROM claims")
          )) as unknown as ReadonlyArray<ClaimRow>)
        : []
    })
  )
  return { url: `duckdb:${path}`, rows }
})

const scenario = (database: Seeded) => () =>
  Effect.gen(function* () {
    const db = yield* database
    const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })

    // The input: generated payments, produced before the jobs start.
    const options = { seed: 11, claims, validClaimRate: 0.9, invalidRate: 0.01 }
    const generated = Array.from({ length: total }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i))
    yield* broker.createTopic(topics.PAYMENT_EVENTS_TOPIC, 6)
    yield* produce(broker.bootstrap, topics.PAYMENT_EVENTS_TOPIC, generated)

    const env = {
      ...topics,
      KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
      DATABASE_URL: db.url,
      GROUP_ID: "e2e",
      METRICS_PORT: "0"
    }
    const enrich = yield* job(["claims", "enrich", "--concurrency", "128"], env)
    const large = yield* job(["claims", "large", "--threshold", threshold], env)

    const client = yield* readerClient(broker)
    const outputs = yield* readTopics(
      client,
      [topics.ENRICHED_PAYMENTS_TOPIC, topics.FAILED_PAYMENTS_TOPIC, topics.PAYMENT_EVENTS_DLQ_TOPIC],
      total
    )

    // Exactly once per payment_id across enriched and failed; the malformed rest in the dead-letter topic.
    const byId = new Map<string, { topic: string; record: Record<string, unknown> }>()
    let deadLetters = 0
    for (const o of outputs) {
      if (o.topic === topics.PAYMENT_EVENTS_DLQ_TOPIC) {
        deadLetters++
        continue
      }
      const record = JSON.parse(text.decode(o.value)) as Record<string, unknown>
      const id = record.payment_id as string
      assert.isFalse(byId.has(id), `${id} appears twice`)
      byId.set(id, { topic: o.topic, record })
    }
    const malformed = generated.filter((r) => !["valid", "unknown-claim"].includes(r.kind)).length
    assert.strictEqual(deadLetters, malformed)
    assert.strictEqual(byId.size, total - malformed)

    assert.strictEqual(db.rows.length, claims)
    // Both databases hold the same claims: the seed's, amounts to the cent.
    const seeded = new Map(Claims.seedRows(claims, 7).map((r) => [r.claim_id, r]))
    for (const row of db.rows) {
      const expected = seeded.get(row.claim_id)
      assert.isDefined(expected, row.claim_id)
      assert.strictEqual(row.member_id, expected!.member_id)
      assert.isTrue(
        BigDecimal.equals(
          BigDecimal.fromStringUnsafe(row.claim_amount),
          BigDecimal.fromStringUnsafe(expected!.claim_amount)
        )
      )
    }
    const table = new Map(db.rows.map((r) => [r.claim_id, r]))
    let large50k = 0
    for (const { topic, record } of byId.values()) {
      const claim = table.get(record.claim_id as string)
      if (claim === undefined) {
        assert.strictEqual(topic, topics.FAILED_PAYMENTS_TOPIC)
        assert.strictEqual(record.enrichment_status, "CLAIM_NOT_FOUND")
        continue
      }
      assert.strictEqual(topic, topics.ENRICHED_PAYMENTS_TOPIC)
      assert.strictEqual(record.enrichment_status, "SUCCESS")
      assert.strictEqual(record.member_id, claim.member_id)
      assert.isTrue(
        BigDecimal.equals(
          BigDecimal.fromStringUnsafe(String(record.claim_amount)),
          BigDecimal.fromStringUnsafe(claim.claim_amount)
        )
      )
      if (
        BigDecimal.isGreaterThanOrEqualTo(
          BigDecimal.fromStringUnsafe(claim.claim_amount),
          BigDecimal.fromStringUnsafe(threshold)
        )
      ) {
        large50k++
      }
    }

    // large-claims holds exactly the enriched payments at or above the threshold.
    const largeOut = yield* readTopics(client, [topics.LARGE_CLAIMS_TOPIC], large50k)
    const largeIds = new Set(
      largeOut.map((o) => (JSON.parse(text.decode(o.value)) as { payment_id: string }).payment_id)
    )
    assert.strictEqual(largeIds.size, large50k)
    for (const id of largeIds) assert.strictEqual(byId.get(id)?.record.enrichment_status, "SUCCESS")

    assert.strictEqual(yield* stop(enrich), 0)
    assert.strictEqual(yield* stop(large), 0)
  })

describe("sluice claims jobs", () => {
  it.live(
    "enrich + large on PostgreSQL - every payment lands in exactly one output, values match the database",
    scenario(postgresDatabase),
    300_000
  )
  it.live(
    "enrich + large on a DuckDB file - every payment lands in exactly one output, values match the database",
    scenario(duckDbDatabase),
    300_000
  )
})
