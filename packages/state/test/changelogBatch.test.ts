import { createRequire } from "node:module"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { encodeRecords } from "../src/internal/changelogBatch.ts"
import type { Change } from "../src/internal/partition.ts"

// The store encodes a flush's changelog records itself and hands kafkajs
// the bytes (`encodedRecords`, added by the kafkajs patch). The reference
// is kafkajs' own encoder: the same records must give the same bytes, and a
// batch built from the encoded records the same batch as one built from
// kafkajs' records, which kafkajs decodes back to the changes.

interface RecordInput {
  readonly key: Buffer
  readonly value: Buffer | null
  readonly headers: Record<string, string>
  readonly offsetDelta: number
  readonly timestampDelta: number
}
type EncodeRecord = (record: RecordInput) => { readonly buffer: Buffer }
type EncodeRecordBatch = (options: {
  firstTimestamp: number
  maxTimestamp: number
  lastOffsetDelta: number
  producerId?: number
  producerEpoch?: number
  firstSequence?: number
  records?: ReadonlyArray<unknown>
  encodedRecords?: { buffer: Buffer; count: number }
}) => Promise<{ readonly buffer: Buffer }>
interface Decoder {
  readonly offset: number
}
type DecodeRecordBatch = (decoder: Decoder) => Promise<{
  readonly records: ReadonlyArray<{
    readonly offset: string
    readonly key: Buffer | null
    readonly value: Buffer | null
  }>
}>

// kafkajs is a dependency of @sluice/kafka; its internals have no types (these are their shapes).
const require = createRequire(join(import.meta.dirname, "../../kafka/package.json"))
const encodeRecord: EncodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0")
const {
  RecordBatch: encodeRecordBatch
}: { RecordBatch: EncodeRecordBatch } = require("kafkajs/src/protocol/recordBatch/v0")
const decodeRecordBatch: DecodeRecordBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder")
const KafkajsDecoder: new (buffer: Buffer) => Decoder = require("kafkajs/src/protocol/decoder")

// ASCII keys (encoded byte by byte) and any others (encoded by Buffer#write).
const change: fc.Arbitrary<readonly [string, Change]> = fc.tuple(
  fc.oneof(fc.string({ unit: "grapheme", maxLength: 40 }), fc.string({ unit: "grapheme-ascii", maxLength: 40 })),
  fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null })
)
// Long enough for two-byte offset deltas and record lengths.
const changes = fc.array(change, { maxLength: 300 })

// kafkajs' own record for a change, at `offsetDelta` in its batch.
const kafkajsRecord = ([key, value]: readonly [string, Change], offsetDelta: number) =>
  encodeRecord({
    key: Buffer.from(key, "utf8"),
    value: value === null ? null : Buffer.from(value),
    headers: {},
    offsetDelta,
    timestampDelta: 0
  })

const reference = (list: ReadonlyArray<readonly [string, Change]>, from: number, to: number): Buffer =>
  Buffer.concat(list.slice(from, to).map((change, i) => kafkajsRecord(change, i).buffer))

describe("changelog records", () => {
  it("encodes a slice of changes as kafkajs encodes the same records", () => {
    fc.assert(
      fc.property(
        changes.chain((list) =>
          fc
            .tuple(fc.nat(list.length), fc.nat(list.length))
            .map(([a, b]) => [list, Math.min(a, b), Math.max(a, b)] as const)
        ),
        ([list, from, to]) => {
          const encoded = encodeRecords(
            list.map(([key]) => key),
            list.map(([, value]) => value),
            from,
            to
          )
          assert.strictEqual(encoded.count, to - from)
          assert.deepStrictEqual(encoded.buffer, reference(list, from, to))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("gives the batch kafkajs builds from its records, which decodes back to the changes", async () => {
    await fc.assert(
      fc.asyncProperty(changes, async (list) => {
        if (list.length === 0) return
        const header = {
          firstTimestamp: 1_700_000_000_000,
          maxTimestamp: 1_700_000_000_000,
          lastOffsetDelta: list.length - 1,
          producerId: 7,
          producerEpoch: 1,
          firstSequence: 42
        }
        const ours = await encodeRecordBatch({
          ...header,
          encodedRecords: encodeRecords(
            list.map(([key]) => key),
            list.map(([, value]) => value),
            0,
            list.length
          )
        })
        const theirs = await encodeRecordBatch({
          ...header,
          records: list.map(kafkajsRecord)
        })
        assert.deepStrictEqual(ours.buffer, theirs.buffer)
        const decoded = await decodeRecordBatch(new KafkajsDecoder(ours.buffer))
        assert.deepStrictEqual(
          decoded.records.map((r) => [r.offset, r.key?.toString("utf8"), r.value === null ? null : [...r.value]]),
          list.map(([key, value], i) => [String(i), key, value === null ? null : [...value]])
        )
      }),
      { numRuns: 100 }
    )
  })
})
