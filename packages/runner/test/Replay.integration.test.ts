// `sluice replay` as the real CLI against the embedded broker and the
// machine's PostgreSQL (a fresh database per test). The failed topic holds a
// mix of DB_ERROR / DB_TIMEOUT records for existing and missing claims,
// CLAIM_NOT_FOUND records and garbage; the replay must enrich exactly the
// database failures on existing claims (values as in the database), turn
// those on missing claims into CLAIM_NOT_FOUND, skip the rest, exit 0 once
// drained, and find nothing left to replay on a second run. With the
// database behind a fault proxy, an outage must hold records rather than
// write them back as DB errors.
import { assert, describe, it } from "@effect/vitest"
import * as Envelope from "@sluice/core/Envelope"
import { KafkaClient, KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka, FaultProxy } from "@sluice/testkit"
import { BigDecimal, DateTime, Effect, Schedule, Stream } from "effect"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import type * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as ReplayJob from "../src/jobs/claims/ReplayJob.ts"
import { freshDatabase } from "./support/database.ts"
import * as LookupErrors from "./support/lookupErrors.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const text = new TextDecoder()
const utf8 = new TextEncoder()
const claimCount = 40
const topics = {
  PAYMENT_EVENTS_TOPIC: "payment-events",
  ENRICHED_PAYMENTS_TOPIC: "enriched-payments",
  FAILED_PAYMENTS_TOPIC: "failed-payments",
  PAYMENT_EVENTS_DLQ_TOPIC: "payment-events-dlq",
  LARGE_CLAIMS_TOPIC: "large-claims"
}

interface Produced {
  readonly key: string
  readonly value: Uint8Array
}

// A failed record as the enrich job writes it.
const failed = (n: number, claimId: string, outcome: Enrichment.Answer): Produced => {
  const event: PaymentEvent.PaymentEvent = {
    payment_id: `PAY-${n}`,
    claim_id: claimId,
    payment_amount: BigDecimal.make(BigInt(50_000 + n * 1_013), 2),
    payment_date: DateTime.makeUnsafe(1_710_000_000_000 + n * 60_000),
    processor_id: `PROC-${n % 4}`,
    ...(n % 3 === 0 ? { payment_method: "CARD" } : {})
  }
  const { record } = Enrichment.enrichmentResult(event, outcome, DateTime.makeUnsafe(1_720_000_000_000))
  return { key: claimId, value: EnrichedPayment.encode(record) }
}

// 24 DB failures on existing claims (PAY-0..23), 6 on missing claims
// (PAY-24..29), 5 CLAIM_NOT_FOUND (PAY-30..34) and 3 undecodable records.
const mix = (): ReadonlyArray<Produced> => {
  const out: Array<Produced> = []
  for (let n = 0; n < 24; n++) {
    const outcome =
      n % 2 === 0
        ? Enrichment.failed(LookupErrors.unavailable("connection refused"))
        : Enrichment.failed(LookupErrors.timeout(5000))
    out.push(failed(n, Claims.claimId(((n * 7) % claimCount) + 1), outcome))
  }
  for (let n = 24; n < 30; n++) out.push(failed(n, `CLM-9${n}0000`, Enrichment.failed(LookupErrors.circuitOpen())))
  for (let n = 30; n < 35; n++) out.push(failed(n, `CLM-8${n}0000`, Enrichment.notFound))
  out.push({ key: "g1", value: utf8.encode("{not json") })
  out.push({ key: "g2", value: new Uint8Array([0xc3, 0x28]) })
  out.push({ key: "g3", value: utf8.encode('{"payment_id":"PAY-X","enrichment_status":"DB_ERROR"}') })
  return out
}
const replayableIds = Array.from({ length: 24 }, (_, n) => `PAY-${n}`)
const missingIds = Array.from({ length: 6 }, (_, n) => `PAY-${n + 24}`)

interface Read {
  readonly partition: number
  readonly offset: bigint
  readonly origin: Envelope.Origin
  readonly json: string
}

const setup = Effect.gen(function* () {
  const db = yield* freshDatabase("sluice_replay")
  yield* Claims.migrate(db.sql)
  yield* Claims.seed(db.sql, { count: claimCount, seed: 5 })
  const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
  const client = yield* KafkaClient.make({ brokers: [broker.bootstrap], logLevel: "None" })
  yield* Effect.promise(() =>
    client.admin.createTopics({ topics: [{ topic: topics.FAILED_PAYMENTS_TOPIC, numPartitions: 6 }] })
  )
  return { db, broker, client }
})

const produce = (client: KafkaClient.KafkaClient["Service"], records: ReadonlyArray<Produced>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
      yield* Effect.promise(() =>
        producer.send({
          topic: topics.FAILED_PAYMENTS_TOPIC,
          acks: -1,
          messages: records.map((r) => ({ key: Buffer.from(r.key), value: Buffer.from(r.value) }))
        })
      )
    })
  )

// Records in a topic now (0 when it does not exist).
const total = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.promise(async () => {
    if (!(await client.admin.listTopics()).includes(topic)) return 0
    const offsets = await client.admin.fetchTopicOffsets(topic)
    return offsets.reduce((sum, p) => sum + Number(BigInt(p.high) - BigInt(p.low)), 0)
  })

// Every record of a topic, read with a fresh group.
const readAll = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.gen(function* () {
    const count = yield* total(client, topic)
    if (count === 0) return [] as ReadonlyArray<Read>
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const records = yield* KafkaSource.make(client, { topics: [topic], groupId: `reader-${Math.random()}` })
        return yield* records.pipe(
          Stream.tap((e) => e.receipt.ack),
          Stream.map(
            (e): Read => ({
              partition: e.origin.partition,
              offset: e.origin.offset,
              origin: e.origin,
              json: text.decode(e.value as Uint8Array)
            })
          ),
          Stream.take(count),
          Stream.runCollect
        )
      })
    ).pipe(Effect.timeout("120 seconds"))
  })

const paymentIdOf = (r: Read): string | undefined => {
  try {
    return (JSON.parse(r.json) as { payment_id?: string }).payment_id
  } catch {
    return undefined
  }
}

// The CLI process, killed if the test ends before it does.
const replay = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnSluice(["replay", ...args], env)),
    (p) => Effect.sync(() => p.child.exitCode === null && p.child.kill("SIGKILL"))
  )

const finished = (p: ReturnType<typeof spawnSluice>) =>
  Effect.promise(() => p.done).pipe(
    Effect.timeoutOrElse({
      duration: "150 seconds",
      orElse: () => Effect.die(new Error(`replay did not finish:\n${p.output().stdout}\n${p.output().stderr}`))
    })
  )

// Polls the process's log until a line contains `message`.
const logged = (p: ReturnType<typeof spawnSluice>, message: string) =>
  Effect.sync(() => p.output().stdout.includes(message)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (seen) => seen || p.child.exitCode !== null }),
    Effect.timeout("120 seconds"),
    Effect.flatMap((seen) =>
      seen
        ? Effect.void
        : Effect.die(new Error(`"${message}" never logged:\n${p.output().stdout}\n${p.output().stderr}`))
    )
  )

// The annotations of the last log line with this message (logs are JSON lines).
const annotationsOf = (stdout: string, message: string): Record<string, unknown> | undefined => {
  const lines = stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { message: unknown; annotations?: Record<string, unknown> })
    .filter((l) => String(l.message).includes(message))
  return lines.at(-1)?.annotations
}

// Checks the outputs of a replay of `mix()` against the database and the originals.
const assertReplayed = Effect.fnUntraced(function* (
  client: KafkaClient.KafkaClient["Service"],
  db: { readonly sql: Effect.Success<ReturnType<typeof freshDatabase>>["sql"] },
  originals: ReadonlyArray<Read>
) {
  const rows = yield* Effect.promise(
    () => db.sql`SELECT claim_id, member_id, claim_amount::text AS claim_amount, claim_status FROM claims`
  )
  const table = new Map(rows.map((r) => [r.claim_id as string, r]))
  const originalAt = new Map(originals.map((r) => [`${topics.FAILED_PAYMENTS_TOPIC}/${r.partition}/${r.offset}`, r]))

  const enriched = yield* readAll(client, topics.ENRICHED_PAYMENTS_TOPIC)
  assert.sameMembers(enriched.map(paymentIdOf), replayableIds)
  for (const r of enriched) {
    const payment = JSON.parse(r.json) as Record<string, unknown>
    const claim = table.get(payment.claim_id as string)!
    assert.strictEqual(payment.enrichment_status, "SUCCESS")
    assert.strictEqual(payment.member_id, claim.member_id)
    assert.strictEqual(payment.claim_status, claim.claim_status)
    assert.isTrue(
      BigDecimal.equals(
        BigDecimal.fromStringUnsafe(String(payment.claim_amount)),
        BigDecimal.fromStringUnsafe(claim.claim_amount)
      )
    )
    assert.isNull(payment.error_reason)
  }

  const all = yield* readAll(client, topics.FAILED_PAYMENTS_TOPIC)
  const written = all.filter((r) => Envelope.header(r.origin, ReplayJob.replayedFromHeader) !== undefined)
  assert.strictEqual(all.length, originals.length + missingIds.length)
  assert.sameMembers(written.map(paymentIdOf), missingIds)
  for (const r of written) {
    const payment = JSON.parse(r.json) as Record<string, unknown>
    assert.strictEqual(payment.enrichment_status, "CLAIM_NOT_FOUND")
    assert.strictEqual(payment.error_reason, `claim ${payment.claim_id} not found`)
  }

  // Every output names its failed record, keeps its key and its payment fields.
  for (const r of [...enriched, ...written]) {
    const from = Envelope.header(r.origin, ReplayJob.replayedFromHeader)!
    const original = originalAt.get(from)
    assert.isDefined(original, from)
    const before = JSON.parse(original!.json) as Record<string, unknown>
    const after = JSON.parse(r.json) as Record<string, unknown>
    assert.strictEqual(text.decode(r.origin.key!), before.claim_id)
    for (const field of ["payment_id", "claim_id", "payment_amount", "payment_date", "processor_id", "payment_method"])
      assert.strictEqual(after[field], before[field], field)
  }
  assert.strictEqual(yield* total(client, topics.PAYMENT_EVENTS_DLQ_TOPIC), 0)
})

describe("sluice replay", () => {
  it.live(
    "drains the failed topic: DB failures enriched again, the rest skipped, exit 0, nothing left for a second run",
    () =>
      Effect.gen(function* () {
        const { db, broker, client } = yield* setup
        yield* produce(client, mix())
        const originals = yield* readAll(client, topics.FAILED_PAYMENTS_TOPIC)
        const env = {
          ...topics,
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: db.url,
          GROUP_ID: "replay-e2e",
          METRICS_PORT: "0"
        }

        const first = yield* finished(yield* replay([], env))
        assert.strictEqual(first.status, 0, first.stderr)
        yield* assertReplayed(client, db, originals)
        const summary = annotationsOf(first.stdout, "replay drained")
        assert.deepInclude(summary, { replayed: 30, enriched: 24, claim_not_found: 6, skipped_undecodable: 3 })
        // The 5 CLAIM_NOT_FOUND records, and perhaps the replay's own 6 read
        // back before it stopped: skipped by status, so it never feeds itself.
        assert.isAtLeast(Number(summary?.skipped_claim_not_found), 5)
        assert.isAtMost(Number(summary?.skipped_claim_not_found), 5 + missingIds.length)

        // Everything was committed: the second run writes nothing.
        const second = yield* finished(yield* replay([], env))
        assert.strictEqual(second.status, 0, second.stderr)
        assert.strictEqual(yield* total(client, topics.ENRICHED_PAYMENTS_TOPIC), replayableIds.length)
        assert.strictEqual(yield* total(client, topics.FAILED_PAYMENTS_TOPIC), originals.length + missingIds.length)
        const again = annotationsOf(second.stdout, "replay drained")
        // Only the replay's own CLAIM_NOT_FOUND records can be new to the group, and they are skipped.
        if (again !== undefined) assert.strictEqual(again.replayed, 0)
        else assert.include(second.stdout, "nothing to replay")
      }),
    300_000
  )

  it.live(
    "database down at first: nothing written for DB errors during the outage, all replayed after recovery",
    () =>
      Effect.gen(function* () {
        const { db, broker, client } = yield* setup
        const target = new URL(db.url)
        const proxy = yield* FaultProxy.make({
          target: { host: target.hostname, port: Number(target.port === "" ? 5432 : target.port) }
        })
        const proxied = new URL(db.url)
        proxied.hostname = proxy.host
        proxied.port = String(proxy.port)
        const env = {
          ...topics,
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: proxied.toString(),
          GROUP_ID: "replay-outage",
          METRICS_PORT: "0"
        }
        // Short timeouts and cooldown so the outage is noticed and left quickly.
        const tight = [
          ...["--lookup-timeout", "2s", "--retry-attempts", "1", "--retry-backoff", "50ms"],
          ...["--breaker-cooldown", "1s", "--breaker-window", "4"]
        ]

        // 1. Down before the replay starts: it waits for the database.
        yield* proxy.set(FaultProxy.FaultMode.reset)
        yield* produce(client, mix())
        const originals = yield* readAll(client, topics.FAILED_PAYMENTS_TOPIC)
        const drain = yield* replay(tight, env)
        yield* logged(drain, "claims database not answering yet")
        assert.strictEqual(yield* total(client, topics.FAILED_PAYMENTS_TOPIC), originals.length)
        assert.strictEqual(yield* total(client, topics.ENRICHED_PAYMENTS_TOPIC), 0)
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        const exit = yield* finished(drain)
        assert.strictEqual(exit.status, 0, exit.stderr)
        yield* assertReplayed(client, db, originals)

        // 2. Down while a following replay runs: records arriving during the
        // outage are held (pause), never written back as DB errors.
        const follow = yield* replay(["--follow", ...tight], env)
        yield* logged(follow, "partitions assigned")
        yield* proxy.set(FaultProxy.FaultMode.reset)
        const more = Array.from({ length: 8 }, (_, i) =>
          failed(100 + i, Claims.claimId(i + 1), Enrichment.failed(LookupErrors.unavailable("connection refused")))
        )
        yield* produce(client, more)
        yield* logged(follow, "claims database failing; holding records")
        const enrichedBefore = yield* total(client, topics.ENRICHED_PAYMENTS_TOPIC)
        const failedBefore = yield* total(client, topics.FAILED_PAYMENTS_TOPIC)
        assert.strictEqual(failedBefore, originals.length + missingIds.length + more.length)
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        yield* total(client, topics.ENRICHED_PAYMENTS_TOPIC).pipe(
          Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (n) => n >= enrichedBefore + more.length }),
          Effect.timeout("120 seconds")
        )
        follow.child.kill("SIGTERM")
        const stopped = yield* finished(follow)
        assert.strictEqual(stopped.status, 0, stopped.stderr)
        const enriched = yield* readAll(client, topics.ENRICHED_PAYMENTS_TOPIC)
        assert.sameMembers(enriched.map(paymentIdOf), [...replayableIds, ...more.map((_, i) => `PAY-${100 + i}`)])
        // Nothing was written to the failed topic for the outage.
        assert.strictEqual(yield* total(client, topics.FAILED_PAYMENTS_TOPIC), failedBefore)
      }),
    300_000
  )
})
