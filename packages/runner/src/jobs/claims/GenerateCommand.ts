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
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../../Flags.ts"
import { reportFailure } from "../../ReportFailure.ts"
import * as Services from "../../Services.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as Publish from "./Publish.ts"

const CHUNK_SIZE = 500
const CHUNK_WAIT = "50 millis"

interface PublishFlags {
  readonly seed: number
  readonly claims: number
  readonly validClaimRate: number
  readonly invalidRate: number
  readonly eventsPerSecond: number
  readonly count: Publish.Options["count"]
  readonly duration: Publish.Options["duration"]
  readonly partitions: number
}

// Creates the topic when missing, then publishes until --count,
// --duration or Ctrl-C, through the Kafka client of the command's layer.
const publish = (flags: PublishFlags, topic: string) =>
  Effect.gen(function* () {
    yield* Admin.ensureTopics([{ topic, partitions: flags.partitions }])
    const client = yield* KafkaClient.KafkaClient
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
        KafkaError.attempt("send", () =>
          producer.send({ topic, acks: -1, messages: chunk.map(Publish.toKafkaMessage) })
        ),
      (line) => Effect.sync(() => process.stderr.write(`${line}\n`))
    )
  })

/**
 * The `generate` command.
 *
 * @since 0.1.0
 * @category commands
 */
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
      yield* publish(flags, config.topics.input).pipe(Effect.scoped, Effect.provide(Services.kafkaClientLayer(config)))
    }).pipe(reportFailure)
).pipe(Command.withDescription("Publish generated payment events to the input topic"))
