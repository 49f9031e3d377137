// State that does not live on the heap: a process whose heap is capped at
// 128 MB (about 30 MB of it live for the runtime, the Kafka client and the
// store) writes 50,000 entries of 200 bytes (10 MB of values) through the
// durable store and reads every one back. Only the local store on disk holds
// them all: the live heap barely grows between a tenth of the entries and
// all of them, which is what would not hold if entries stayed on the heap.
// The cap leaves room for transient peaks (a 64 MB cap once ran out during
// start-up on a loaded machine, before any entry was written); the live-heap
// measure, not the cap, is what shows where the entries are.
// (Scaled down from millions of keys to keep the test within seconds: the
// changelog writes to the embedded broker cost about a minute per 200,000.)
import { spawn } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { broker, tempDir } from "./fixtures/support.ts"

const worker = join(import.meta.dirname, "fixtures", "big-worker.ts")
const keys = 50_000
const heapMb = 128

interface Report {
  readonly verified: number
  readonly rss: number
  readonly early: number
  readonly late: number
  readonly bytes: number
}

const run = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ["--expose-gc", `--max-old-space-size=${heapMb}`, worker, ...args], {
          stdio: ["ignore", "pipe", "inherit"]
        })
        let out = ""
        child.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString()
        })
        child.once("exit", (code) => resolve({ code, out }))
      })
  )

describe("DurableStateStore memory", () => {
  it.live(
    "state off the heap - 10 MB of entries under a 128 MB heap are written and read back, the live heap stays flat",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const directory = yield* tempDir
        const { code, out } = yield* run([bootstrap, directory, String(keys)])
        assert.strictEqual(code, 0)
        const report = JSON.parse(out.trim().split("\n").at(-1)!) as Report
        process.stdout.write(
          `state memory test: ${report.bytes / 1e6} MB of values, heap cap ${heapMb} MB, live heap ${Math.round(report.early / 1e6)} -> ${Math.round(report.late / 1e6)} MB, peak RSS ${Math.round(report.rss / 1e6)} MB\n`
        )
        assert.strictEqual(report.verified, keys)
        // 9 MB of values were added between the two measures.
        assert.isBelow(report.late - report.early, (report.bytes * 0.9) / 4)
        // The runtime, the client's buffers and the memory-mapped pages of the
        // local store: bounded, whatever the number of entries.
        assert.isBelow(report.rss, 512 * 1024 * 1024)
      }),
    120_000
  )
})
