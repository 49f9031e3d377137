/**
 * `sluice generate`: publishes generated payment events to the input topic,
 * keyed by claim id so every event of a claim lands on one partition. The
 * topic is created first when missing. Records go out in chunks through an
 * idempotent producer waiting for all in-sync replicas, so a retried chunk
 * is not duplicated. A progress line goes to stderr every second and a
 * summary when the run ends, whether by `--count`, `--duration` or Ctrl-C.
 * With `--value-format avro` the payment events are Avro (`payment.avsc`,
 * registered under `<topic>-value` in the registry at `SCHEMA_REGISTRY_URL`).
 *
 * @since 0.1.0
 */
import { Admin, KafkaClient, KafkaError, SchemaRegistry } from "@sluice/kafka"
import { Effect, Schedule } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../../Flags.ts"
import { reportFailure } from "../../ReportFailure.ts"
import * as Services from "../../Services.ts"
import * as ClaimsAvro from "./ClaimsAvro.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as Publish from "./Publish.ts"

const CHUNK_SIZE = 500
const CHUNK_WAIT = "50 millis"

/**
 * The `generate` command.
 *
 * @since 0.1.0
 * @category commands
 */
// A broker restarted under a running generator (the reliability suite does
// it) can take longer to come back than kafkajs' own retries (about four
// seconds), so a chunk that could not be sent is tried again for up to a
// minute before the generator gives up. The producer is idempotent: a retried
// chunk the broker already appended is not written twice.
const sendRetry = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("2 seconds")]).pipe(
  Schedule.upTo({ duration: "1 minute" })
)

export const command = Command.make(
  "generate",
  {
    ...ClaimsConfig.settingFlags,
    eventsPerSecond: ClaimsFlags.eventsPerSecond,
    validClaimRate: ClaimsFlags.validClaimRate,
    invalidRate: ClaimsFlags.invalidRate,
    claims: ClaimsFlags.claims,
    seed: ClaimsFlags.seed,
    duration: Flags.duration,
    count: Flags.count,
    partitions: Flags.partitions
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* ClaimsConfig.load(flags)
      const topic = config.topics.input
      const client = yield* Services.kafkaClient(config)
      const toAvro =
        config.valueFormat === "avro"
          ? ClaimsAvro.generatedRecord(
              yield* ClaimsAvro.payments(topic).pipe(
                Effect.provideService(SchemaRegistry.SchemaRegistry, yield* ClaimsAvro.registryFromEnv)
              )
            )
          : undefined
      yield* Admin.ensureTopics([{ topic, partitions: flags.partitions }]).pipe(
        Effect.provideService(KafkaClient.KafkaClient, client)
      )
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })

      yield* Publish.run(
        {
          seed: flags.seed,
          claims: flags.claims,
          validClaimRate: flags.validClaimRate,
          invalidRate: flags.invalidRate,
          eventsPerSecond: flags.eventsPerSecond,
          count: flags.count,
          duration: flags.duration,
          chunkSize: CHUNK_SIZE,
          chunkWait: CHUNK_WAIT,
          topic
        },
        (chunk) =>
          Effect.flatMap(toAvro === undefined ? Effect.succeed(chunk) : Effect.forEach(chunk, toAvro), (records) =>
            KafkaError.attempt("send", () =>
              producer.send({ topic, acks: -1, messages: records.map(Publish.toKafkaMessage) })
            ).pipe(Effect.retry({ schedule: sendRetry, while: (error) => error.isRetryable }))
          ),
        (line) => Effect.sync(() => process.stderr.write(`${line}\n`))
      )
    }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Publish generated payment events to the input topic"))
