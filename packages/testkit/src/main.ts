/**
 * Runs the embedded broker as a standalone process until SIGINT or SIGTERM:
 *
 *   node packages/testkit/src/main.ts --port 9092 --data-dir ./data
 *
 * Flags: --port, --host, --data-dir, --partitions (default for auto-created
 * topics), --no-auto-create, --retention-bytes, --log-segment-bytes (the active
 * segment compaction leaves alone; default 1 MiB), --fsync always|interval|never.
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import * as EmbeddedKafka from "./EmbeddedKafka.ts"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "9092" },
    host: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string" },
    partitions: { type: "string", default: "1" },
    "no-auto-create": { type: "boolean", default: false },
    "retention-bytes": { type: "string", default: "0" },
    "log-segment-bytes": { type: "string" },
    fsync: { type: "string", default: "interval" }
  }
})

const fsync = values.fsync === "always" || values.fsync === "never" ? values.fsync : "interval"

const options: EmbeddedKafka.Options = {
  port: Number(values.port),
  host: values.host,
  defaultPartitions: Number(values.partitions),
  autoCreateTopics: !values["no-auto-create"],
  retentionBytes: Number(values["retention-bytes"]),
  fsync,
  ...(values["log-segment-bytes"] === undefined ? {} : { logSegmentBytes: Number(values["log-segment-bytes"]) }),
  ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] })
}

const program = Effect.gen(function* () {
  const broker = yield* EmbeddedKafka.make(options)
  yield* Effect.log(`embedded Kafka broker listening on ${broker.bootstrap}`)
  yield* Effect.callback<void>((resume) => {
    const stop = () => resume(Effect.void)
    process.once("SIGINT", stop)
    process.once("SIGTERM", stop)
  })
  yield* Effect.log("stopping")
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
