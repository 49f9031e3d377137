import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { PartitionLog } from "../src/internal/broker/partitionLog.ts"
import { Persistence } from "../src/internal/broker/persistence.ts"
import { TopicStore } from "../src/internal/broker/topicStore.ts"
import { checkBatch, decodeRecords, encodeBatch } from "../src/internal/protocol/recordBatch.ts"

const append = (log: PartitionLog, key: string, value: string) => {
  const batch = encodeBatch([{ key: Buffer.from(key), value: Buffer.from(value) }])
  const c = checkBatch(batch, 0, batch.length)
  if (c._tag !== "Ok") throw new Error(c._tag)
  log.append(batch, c.header)
}

const open = (dir: string) => {
  const persistence = new Persistence(dir, 1)
  const store = new TopicStore(0)
  // segment.bytes 1: the active segment is the newest batch alone, so every other batch can be compacted.
  store.create("c", 1, { "cleanup.policy": "compact", "segment.bytes": "1" })
  persistence.attach("c", store.topics.get("c")!)
  return { persistence, log: store.topics.get("c")![0]! }
}

const contents = (log: PartitionLog): Array<string> => {
  const out: Array<Buffer> = []
  log.read(0, Number.MAX_SAFE_INTEGER, out)
  return out.flatMap((b) => decodeRecords(b).map((r) => `${r.offset}:${r.key}=${r.value}`))
}

describe("Persistence", () => {
  it.effect("rewrite - a compaction interrupted before its old segments were deleted replays without duplicates", () =>
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-segments-"))
      const partitionDir = path.join(dir, "c-0")
      const first = open(dir)
      // segmentBytes 1: every batch rolls a segment of its own.
      for (const [k, v] of [
        ["a", "1"],
        ["b", "1"],
        ["a", "2"],
        ["b", "2"],
        ["z", "end"]
      ] as const)
        append(first.log, k, v)
      const saved = new Map(fs.readdirSync(partitionDir).map((f) => [f, fs.readFileSync(path.join(partitionDir, f))]))
      assert.strictEqual(saved.size, 5)
      assert.isTrue(first.log.compact(0, 1000))
      const compacted = contents(first.log)
      assert.deepStrictEqual(compacted, ["2:a=2", "3:b=2", "4:z=end"])
      first.persistence.close()
      assert.strictEqual(fs.readdirSync(partitionDir).filter((f) => f.endsWith(".log")).length, 1)
      // The crash: the compacted file replaced the first segment, the others were never deleted.
      const names = [...saved.keys()].sort()
      for (const name of names.slice(1)) fs.writeFileSync(path.join(partitionDir, name), saved.get(name)!)
      const second = open(dir)
      assert.deepStrictEqual(contents(second.log), compacted)
      assert.strictEqual(second.log.nextOffset, 5)
      second.persistence.close()
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )
})
