/**
 * `sluice demo`: the whole claims system in one process with no
 * infrastructure: the embedded broker, PostgreSQL (`DATABASE_URL`, a local
 * server, or an embedded one), the claims table migrated and seeded, the
 * generator, both jobs and the dashboard. The database is reached through a
 * `FaultProxy`, so `--db-outage-after` / `--db-outage-for` take it away for a
 * while: the breaker opens, payments route to failed-payments with DB_ERROR
 * (or wait, with `--on-db-unavailable pause`), and everything recovers.
 * `--db-slow-after` / `--db-slow-for` / `--db-slow-latency` slow it down
 * instead, beyond `--lookup-timeout`, so payments come out DB_TIMEOUT. A few
 * generated records are malformed by default (`--invalid-rate 0.01`), so the
 * dead-letter topic has something in it. When the generator is done and every
 * event has an output, a summary is printed. With `--value-format avro` the
 * embedded schema registry starts too (on a free port) and every claims
 * topic is Avro through it.
 *
 * The summary's output counts (enriched, failed by status, dead letters by
 * reason) are read back from the output topics as a `read_committed`
 * consumer sees them, once the enrich job has committed every input: with
 * `--processing-guarantee exactly-once` (both jobs write in Kafka
 * transactions) they are what a downstream reader gets, with no output of an
 * aborted transaction counted. Latencies, lookups and the cache come from the
 * jobs' metrics.
 *
 * With `--database-url duckdb:<path>` the claims live in that DuckDB file
 * instead (migrated and seeded, then read by the jobs read-only), or with
 * `duckdb::memory:` in a database of the process; DuckDB runs in the process,
 * so there is no connection to fault and the `--db-*` windows do not apply.
 *
 * @since 0.1.0
 */

import * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import { KafkaError, SchemaRegistry } from "@sluice/kafka"
import { PgLookup } from "@sluice/lookup"
// The proxy module alone is small; the broker is loaded only when the demo runs.
import * as FaultProxy from "@sluice/testkit/FaultProxy"
import { Duration, Effect, Fiber, Option, Redacted, Result, Schedule, Stream } from "effect"
import { Command } from "effect/cli"
import * as Drain from "../../Drain.ts"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import * as Flags from "../../Flags.ts"
import type * as Stats from "../../http/Stats.ts"
import * as ProcessingGuarantee from "../../ProcessingGuarantee.ts"
import * as ReadCommitted from "../../ReadCommitted.ts"
import { decodeRecords } from "../../records/DecodeRecords.ts"
import * as Services from "../../Services.ts"
import * as ClaimsAvro from "./ClaimsAvro.ts"
import * as ClaimsCommand from "./ClaimsCommand.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDashboard from "./ClaimsDashboard.ts"
import * as ClaimsDatabase from "./ClaimsDatabase.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as Claims from "./ClaimsTable.ts"
import * as EnrichedPayment from "./EnrichedPayment.ts"
import * as Publish from "./Publish.ts"

const say = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

const ms = (value: number | null) => (value === null ? "-" : `${value.toFixed(1)} ms`)

const breakdown = (counts: ReadonlyArray<readonly [string, number]>) =>
  counts.length > 0 ? ` (${counts.map(([s, c]) => `${s} ${c}`).join(", ")})` : ""

/**
 * A fault the demo injects into the database connection for a while.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultWindow {
  /** Counted from the start of the demo. */
  readonly after: Duration.Duration
  readonly duration: Duration.Duration
  readonly mode: FaultProxy.FaultMode
  /** Said when the fault starts, e.g. "database unreachable". */
  readonly label: string
}

/**
 * Waits `after`, switches the proxy to the window's mode, and back to
 * pass-through `duration` later, saying both on `report`.
 *
 * @since 0.1.0
 * @category chaos
 */
export const faultWindow = <E>(
  set: (mode: FaultProxy.FaultMode) => Effect.Effect<void, E>,
  window: FaultWindow,
  report: (line: string) => Effect.Effect<void>
): Effect.Effect<void, E> =>
  Effect.gen(function* () {
    yield* Effect.sleep(window.after)
    yield* report(`chaos: ${window.label} for ${Duration.format(window.duration)}`)
    yield* set(window.mode)
    yield* Effect.sleep(window.duration)
    yield* set(FaultProxy.FaultMode.passThrough)
    yield* report("chaos: database back")
  })

/**
 * The summary printed at the end of a demo run.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (stats: Stats.Stats, sent: number): string => {
  const byStatus = stats.outcomesByStatus
  const failed = Object.entries(byStatus).filter(([status]) => status !== "SUCCESS")
  const lookups = stats.policyCalls["claims-db"] ?? {}
  const calls = Object.values(lookups).reduce((a, b) => a + b, 0)
  const lines = [
    "",
    "demo summary",
    `  events in            ${sent}`,
    `  enriched             ${byStatus.SUCCESS ?? 0}`,
    `  failed               ${failed.reduce((n, [, c]) => n + c, 0)}${breakdown(failed)}`,
    `  dead letters         ${stats.deadLetters}${breakdown(Object.entries(stats.deadLettersByReason))}`,
    `  end-to-end latency   p50 ${ms(stats.processingLatencyMs.p50)}  p95 ${ms(stats.processingLatencyMs.p95)}  p99 ${ms(stats.processingLatencyMs.p99)}`,
    `  lookup success rate  ${calls === 0 ? "-" : `${(((lookups.success ?? 0) / calls) * 100).toFixed(1)}% of ${calls} batch queries`}`,
    `  cache hit ratio      ${stats.cache.hitRatio === null ? "-" : `${(stats.cache.hitRatio * 100).toFixed(1)}%`}`
  ]
  return lines.join("\n")
}

/**
 * The output counts of the summary as a `read_committed` reader of the
 * output topics sees them: SUCCESS for every enriched payment, the failed
 * ones by `enrichment_status` (decoded with `decodeFailed`; `undecodable`
 * otherwise), dead letters by their reason-kind header.
 *
 * @since 0.1.0
 * @category summary
 */
export const committedOutcomes = <E>(
  read: (topic: string) => Effect.Effect<ReadonlyArray<Envelope.Envelope<Envelope.Payload>>, E>,
  topics: { readonly enriched: string; readonly failed: string; readonly deadLetter: string },
  decodeFailed: (
    records: Stream.Stream<Envelope.Envelope<Envelope.Payload>>
  ) => Stream.Stream<
    Envelope.Envelope<Result.Result<EnrichedPayment.EnrichedPayment, DeadLetter.DeadLetter>>,
    E
  > = decodeRecords(EnrichedPayment.decode)
): Effect.Effect<Pick<Stats.Stats, "outcomesByStatus" | "deadLetters" | "deadLettersByReason">, E> =>
  Effect.gen(function* () {
    const count = (into: Record<string, number>, key: string) => {
      into[key] = (into[key] ?? 0) + 1
    }
    const outcomesByStatus: Record<string, number> = {}
    const enriched = yield* read(topics.enriched)
    if (enriched.length > 0) outcomesByStatus.SUCCESS = enriched.length
    const failed = yield* Stream.runCollect(decodeFailed(Stream.fromIterable(yield* read(topics.failed))))
    for (const e of failed) {
      count(outcomesByStatus, Result.isSuccess(e.value) ? e.value.success.enrichment_status : "undecodable")
    }
    const deadLettersByReason: Record<string, number> = {}
    const dead = yield* read(topics.deadLetter)
    for (const e of dead) count(deadLettersByReason, Envelope.header(e.origin, DeadLetter.KindHeader) ?? "unknown")
    return { outcomesByStatus, deadLetters: dead.length, deadLettersByReason }
  })

// The demo's PostgreSQL: the configured, local or embedded server, migrated and
// seeded, reached by the jobs through a fault proxy the --db-* windows drive.
const postgresDemo = (base: ClaimsConfig.ClaimsConfig, flags: { readonly claims: number; readonly seed: number }) =>
  Effect.gen(function* () {
    const url = Option.isSome(base.databaseUrl) ? base.databaseUrl.value : yield* EmbeddedPostgres.resolveDatabaseUrl
    const target = new URL(Redacted.value(url))
    const proxy = yield* FaultProxy.make({
      target: { host: target.hostname, port: Number(target.port === "" ? 5432 : target.port) }
    })
    const proxied = new URL(target)
    proxied.hostname = proxy.host
    proxied.port = String(proxy.port)
    yield* say(`database: ${target.hostname}:${target.port || 5432}${target.pathname} through a fault proxy`)

    const seeder = yield* PgLookup.makeClient({ url })
    yield* Claims.migrate(seeder.sql)
    yield* Claims.seed(seeder.sql, { count: flags.claims, seed: flags.seed })
    yield* say(`claims: ${flags.claims} seeded`)
    const config: ClaimsConfig.ClaimsConfig = { ...base, databaseUrl: Option.some(Redacted.make(proxied.toString())) }
    return { config, opened: undefined, proxy: Option.some(proxy.set) }
  })

// The demo's DuckDB: a file is migrated and seeded by a writer that is closed
// again, so the jobs open it read-only as they would outside the demo; an
// in-memory database only exists in its instance, so the jobs share the writer's.
const duckDbDemo = (
  base: ClaimsConfig.ClaimsConfig,
  path: string,
  flags: { readonly claims: number; readonly seed: number; readonly lookupTimeout: Duration.Duration }
) =>
  Effect.gen(function* () {
    const prepare = (db: ClaimsDatabase.ClaimsDatabase) =>
      Effect.andThen(ClaimsDatabase.migrate(db), ClaimsDatabase.seed(db, { count: flags.claims, seed: flags.seed }))
    const memory = path === ":memory:"
    yield* say(`database: DuckDB ${memory ? "in memory" : path}`)
    const opened = memory
      ? yield* ClaimsDatabase.openDuckDb(path, { readOnly: false, statementTimeout: flags.lookupTimeout })
      : undefined
    if (opened === undefined) {
      yield* Effect.scoped(Effect.flatMap(ClaimsDatabase.openDuckDb(path, { readOnly: false }), prepare))
    } else {
      yield* prepare(opened)
    }
    yield* say(`claims: ${flags.claims} seeded`)
    return { config: base, opened, proxy: Option.none<(mode: FaultProxy.FaultMode) => Effect.Effect<void>>() }
  })

/**
 * The claims demo as a command called `name` (`demo` while claims is the
 * only job; the CLI decides).
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (name: string) =>
  Command.make(
    name,
    {
      ...ClaimsConfig.settingFlags,
      ...ClaimsFlags.enrichFlags,
      eventsPerSecond: ClaimsFlags.eventsPerSecond,
      validClaimRate: ClaimsFlags.validClaimRate,
      invalidRate: ClaimsFlags.demoInvalidRate,
      claims: ClaimsFlags.claims,
      seed: ClaimsFlags.seed,
      duration: Flags.duration,
      count: Flags.count,
      threshold: ClaimsFlags.threshold,
      dbOutageAfter: ClaimsFlags.dbOutageAfter,
      dbOutageFor: ClaimsFlags.dbOutageFor,
      dbSlowAfter: ClaimsFlags.dbSlowAfter,
      dbSlowFor: ClaimsFlags.dbSlowFor,
      dbSlowLatency: ClaimsFlags.dbSlowLatency,
      ...ProcessingGuarantee.flags
    },
    (flags) =>
      Effect.gen(function* () {
        const base = yield* ClaimsConfig.load(flags)
        const { guarantee, commitInterval } = yield* ProcessingGuarantee.load(flags)
        const count = Option.isNone(flags.count) && Option.isNone(flags.duration) ? Option.some(3_000) : flags.count

        // The test kit is loaded by the commands that use it, not by every start-up.
        const EmbeddedKafka = yield* Effect.promise(() => import("@sluice/testkit/EmbeddedKafka"))
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
        yield* say(`kafka: embedded broker on ${broker.bootstrap}`)
        const duckDbPath = ClaimsDatabase.duckDbPath(base.databaseUrl)
        const prepared = Option.isSome(duckDbPath)
          ? yield* duckDbDemo(base, duckDbPath.value, flags)
          : yield* postgresDemo(base, flags)
        const config: ClaimsConfig.ClaimsConfig = { ...prepared.config, bootstrapServers: [broker.bootstrap] }
        const readiness = yield* Services.observability(config.metricsPort, ClaimsDashboard.dashboard)
        yield* say(`dashboard: http://127.0.0.1:${readiness.port}/  (metrics on /metrics)`)

        const registry =
          config.valueFormat === "avro"
            ? yield* Effect.gen(function* () {
                const Embedded = yield* Effect.promise(() => import("@sluice/testkit/SchemaRegistry"))
                const server = yield* Embedded.make({ port: 0 })
                yield* say(`schema registry: embedded on ${server.url} (values are Avro)`)
                return yield* ClaimsAvro.checkedRegistry({ url: server.url })
              })
            : undefined

        const enrich = yield* Effect.forkScoped(
          ClaimsCommand.runEnrich(config, { ...flags, guarantee, commitInterval }, readiness, registry, prepared.opened)
        )
        const large = yield* Effect.forkScoped(
          ClaimsCommand.runLarge(config, flags.threshold, readiness, registry, {}, guarantee, commitInterval)
        )
        if (guarantee === "exactly-once") {
          yield* say("processing guarantee: exactly-once (Kafka transactions; the summary reads read_committed)")
        }

        const windows: ReadonlyArray<FaultWindow> = [
          ...Option.toArray(
            Option.map(flags.dbOutageAfter, (after) => ({
              after,
              duration: flags.dbOutageFor,
              mode: FaultProxy.FaultMode.reset,
              label: "database unreachable"
            }))
          ),
          ...Option.toArray(
            Option.map(flags.dbSlowAfter, (after) => {
              const latency = Option.getOrElse(flags.dbSlowLatency, () => Duration.times(flags.lookupTimeout, 2))
              return {
                after,
                duration: flags.dbSlowFor,
                mode: FaultProxy.FaultMode.latency(latency),
                label: `database slow (+${Duration.format(latency)} each way)`
              }
            })
          )
        ]
        if (Option.isNone(prepared.proxy) && windows.length > 0) {
          yield* say("database: DuckDB runs in the process; the --db-outage/--db-slow windows are ignored")
        }
        for (const set of Option.toArray(prepared.proxy)) {
          for (const window of windows) {
            yield* Effect.forkScoped(faultWindow(set, window, say).pipe(Effect.orDie))
          }
        }

        const client = yield* Services.kafkaClient({
          bootstrapServers: config.bootstrapServers,
          clientId: "sluice-demo-generator"
        })
        const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
        const topic = config.topics.input
        const toAvro =
          registry === undefined
            ? undefined
            : ClaimsAvro.generatedRecord(
                yield* ClaimsAvro.payments(topic).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))
              )
        const totals = yield* Publish.run(
          {
            seed: flags.seed,
            claims: flags.claims,
            validClaimRate: flags.validClaimRate,
            invalidRate: flags.invalidRate,
            eventsPerSecond: flags.eventsPerSecond,
            count,
            duration: flags.duration,
            chunkSize: 200,
            chunkWait: "50 millis",
            topic
          },
          (chunk) =>
            Effect.flatMap(toAvro === undefined ? Effect.succeed(chunk) : Effect.forEach(chunk, toAvro), (records) =>
              KafkaError.attempt("send", () =>
                producer.send({ topic, acks: -1, messages: records.map(Publish.toKafkaMessage) })
              )
            ),
          say
        )

        // Wait (bounded) until every event has an output, then report.
        const stats = ClaimsDashboard.stats
        const done = (s: Stats.Stats) =>
          Object.values(s.outcomesByStatus).reduce((a, b) => a + b, 0) + s.deadLetters >= totals.sent
        yield* stats.pipe(
          Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: done }),
          Effect.timeoutOption("2 minutes")
        )
        // Outputs count once the enrich job has committed its input (in
        // exactly-once mode, the transaction that holds them has committed).
        const ends = yield* Drain.endOffsets(client.admin, topic)
        yield* Drain.awaitCommitted(client.admin, {
          groupId: config.groupId,
          topic,
          ends,
          interval: "250 millis"
        }).pipe(Effect.timeoutOption("2 minutes"))
        const decodeFailed =
          registry === undefined ? undefined : (yield* ClaimsAvro.replayCodec(config.topics, registry)).decode
        const committed = yield* committedOutcomes(
          (t) => ReadCommitted.readCommitted(client, t),
          config.topics,
          decodeFailed
        )
        const final = yield* stats
        yield* Effect.sync(() => process.stdout.write(`${summary({ ...final, ...committed }, totals.sent)}\n`))
        yield* Fiber.interrupt(enrich)
        yield* Fiber.interrupt(large)
      }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription("Run the whole claims system locally: broker, database, generator, both jobs, dashboard")
  )

/**
 * The `demo` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = make("demo")
