/**
 * `sluice generate`: publishes generated payment events to the input topic,
 * keyed by claim id so every event of a claim lands on one partition. The
 * topic is created first when missing. Records go out in chunks through an
 * idempotent producer waiting for all in-sync replicas, so a retried chunk
 * is not duplicated. A progress line goes to stderr every second and a
 * summary when the run ends, whether by `--count`, `--duration` or Ctrl-C.
 *
 * @since 0.1.0
 */
import { Admin, KafkaClient, KafkaError } from "@sluice/kafka"
import { Clock, Effect, Option, Ref, Schedule, Stream } from "effect"
import { Command } from "effect/cli"
import * as Config from "../Config.ts"
import * as Generator from "../claims/Generator.ts"
import * as Flags from "./Flags.ts"

const CHUNK_SIZE = 500
const CHUNK_WAIT = "50 millis"

interface Totals {
  readonly sent: number
  readonly invalid: number
}

const isMalformed = (kind: Generator.Kind): boolean => kind !== "valid" && kind !== "unknown-claim"

const toMessage = (r: Generator.GeneratedRecord) => ({
  key: Buffer.from(r.key),
  value: Buffer.from(r.value),
  headers: Object.fromEntries(r.headers.map(([name, value]) => [name, Buffer.from(value)]))
})

const stderr = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

/**
 * The `generate` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "generate",
  {
    ...Flags.settingFlags,
    eventsPerSecond: Flags.eventsPerSecond,
    validClaimRate: Flags.validClaimRate,
    invalidRate: Flags.invalidRate,
    claims: Flags.claims,
    seed: Flags.seed,
    duration: Flags.duration,
    count: Flags.count,
    partitions: Flags.partitions
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* Config.load(flags)
      const topic = config.topics.input
      const client = yield* KafkaClient.make({ brokers: config.bootstrapServers, clientId: config.clientId })
      yield* Admin.ensureTopics([{ topic, partitions: flags.partitions }]).pipe(
        Effect.provideService(KafkaClient.KafkaClient, client)
      )
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })

      const totals = yield* Ref.make<Totals>({ sent: 0, invalid: 0 })
      const started = yield* Clock.currentTimeMillis
      let lastSent = 0
      yield* Ref.get(totals).pipe(
        Effect.flatMap((t) => {
          const rate = t.sent - lastSent
          lastSent = t.sent
          return stderr(`sent ${t.sent}  rate ${rate}/s  invalid ${t.invalid}`)
        }),
        Effect.delay("1 second"),
        Effect.repeat(Schedule.forever),
        Effect.forkScoped
      )

      const summary = Effect.gen(function* () {
        const t = yield* Ref.get(totals)
        const seconds = Math.max((yield* Clock.currentTimeMillis) - started, 1) / 1000
        yield* stderr(
          `done: sent ${t.sent} records to ${topic} in ${seconds.toFixed(1)}s (${Math.round(t.sent / seconds)}/s), invalid ${t.invalid}`
        )
      })

      const records = Generator.stream({
        seed: flags.seed,
        claims: flags.claims,
        validClaimRate: flags.validClaimRate,
        invalidRate: flags.invalidRate,
        eventsPerSecond: flags.eventsPerSecond,
        count: Option.getOrUndefined(flags.count)
      })
      yield* records.pipe(
        // Halting the source (not the sends) lets chunks already taken finish.
        Option.isSome(flags.duration) ? Stream.haltWhen(Effect.sleep(flags.duration.value)) : (s) => s,
        Stream.groupedWithin(CHUNK_SIZE, CHUNK_WAIT),
        Stream.mapEffect((chunk) =>
          // Uninterruptible so that a Ctrl-C during a send still counts what the broker acknowledged.
          KafkaError.attempt("send", () => producer.send({ topic, acks: -1, messages: chunk.map(toMessage) })).pipe(
            Effect.andThen(
              Ref.update(totals, (t) => ({
                sent: t.sent + chunk.length,
                invalid: t.invalid + chunk.filter((r) => isMalformed(r.kind)).length
              }))
            ),
            Effect.uninterruptible
          )
        ),
        Stream.runDrain,
        Effect.ensuring(summary)
      )
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Publish generated payment events to the input topic"))
