/**
 * A capture as its own process, for the kill -9 test: each record is written
 * to stdout as `lsn key op` and acknowledged only after the write, so what the
 * parent has read is what counts as durable.
 *
 * Usage: node captureProcess.ts <url> <slot> <table>
 */
import { writeSync } from "node:fs"
import { Effect, Stream } from "effect"
import * as Capture from "../../src/Capture.ts"

const [url, slot, table] = process.argv.slice(2) as [string, string, string]

const program = Effect.gen(function* () {
  const capture = yield* Capture.make({
    url,
    serverName: "load",
    slot,
    publication: slot,
    tables: [table],
    tombstones: false,
    statusInterval: "200 millis"
  })
  yield* capture.records.pipe(
    Stream.runForEach((r) =>
      Effect.gen(function* () {
        const op = r.value === null ? "-" : (JSON.parse(r.value) as { op: string }).op
        writeSync(1, `${r.lsn} ${r.key} ${op}\n`)
        yield* capture.acknowledge(r.lsn)
      })
    )
  )
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    writeSync(2, `${String(error)}\n`)
    process.exit(1)
  }
)
