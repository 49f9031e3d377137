/**
 * `sluice broker`: runs the embedded Kafka-protocol broker from the testkit
 * as a process of its own, for development and demos without a Kafka
 * installation. It prints its bootstrap address once it listens and runs
 * until SIGINT or SIGTERM, then closes its connections and files.
 * `--partitions` is the partition count of topics it creates on first use
 * (a producer or consumer naming a topic that does not exist), so a job that
 * expects 6 partitions of an auto-created topic can get them.
 *
 * @since 0.1.0
 */
import { Console, Effect, Option } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../Flags.ts"
import * as Parse from "../Parse.ts"

/**
 * Partitions of a topic the broker creates on first use.
 *
 * @since 0.1.0
 * @category flags
 */
export const partitions = Flags.parsed(
  "partitions",
  Parse.int(1, 10_000),
  "Partitions of a topic the broker creates on first use"
).pipe(Flags.withDefault(1, "1"))

/**
 * The `broker` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("broker", { port: Flags.port, dataDir: Flags.dataDir, partitions }, (flags) =>
  Effect.gen(function* () {
    // The test kit is loaded by the commands that use it, not by every start-up.
    const { EmbeddedKafka } = yield* Effect.promise(() => import("@sluice/testkit"))
    const broker = yield* EmbeddedKafka.make({
      port: flags.port,
      defaultPartitions: flags.partitions,
      ...Option.match(flags.dataDir, { onNone: () => ({}), onSome: (dataDir) => ({ dataDir }) })
    })
    yield* Console.log(`broker listening on ${broker.bootstrap}`)
    // The process signal interrupts this; the scope then stops the broker.
    return yield* Effect.never
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Run the embedded Kafka-protocol broker until SIGINT or SIGTERM"))
