import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { varLong } from "./fixtures/varLong.ts"

// The kafkajs patch (patches/kafkajs@2.2.4.patch) encodes into unzeroed
// buffers, and decodes a fetched record's
// offset and timestamp with number arithmetic while they are exact in a double
// (it parsed the batch's base offset and timestamp into BigInts for every
// record), and filters a batch's messages by offset the same way. Checked here
// against references computed with BigInt from the protocol's definition
// (zigzag, then LEB128), including values past 2^53, where the Long path
// must still be taken.

interface Decoder {
  readVarLongNumber(): number | { toString(): string }
  readonly offset: number
}
interface DecoderClass {
  new (buffer: Buffer): Decoder
}
interface DecodedRecord {
  readonly offset: string
  readonly timestamp: string
  readonly key: Buffer | null
  readonly value: Buffer | null
}
type DecodeRecord = (
  decoder: Decoder,
  batchContext: { firstOffset: string; firstTimestamp: string; magicByte: number; timestampType: number }
) => DecodedRecord
interface BatchClass {
  new (
    topic: string,
    fetchedOffset: string,
    partitionData: {
      partition: number
      highWatermark: string
      abortedTransactions: ReadonlyArray<never>
      messages: ReadonlyArray<{ offset: string; isControlRecord: boolean }>
    }
  ): { readonly messages: ReadonlyArray<{ offset: string }> }
}

interface RecordInput {
  readonly key: Buffer
  readonly value: Buffer | null
  readonly headers: Record<string, string>
  readonly offsetDelta: number
  readonly timestampDelta: number
}
type EncodeRecord = (record: RecordInput) => unknown
type EncodeRecordBatch = (options: {
  firstTimestamp: number
  maxTimestamp: number
  lastOffsetDelta: number
  records: ReadonlyArray<unknown>
}) => Promise<{ readonly buffer: Buffer }>
type DecodeRecordBatch = (decoder: Decoder) => Promise<{
  readonly records: ReadonlyArray<DecodedRecord & { readonly headers: Record<string, Buffer> }>
}>

// kafkajs has no types for its internals; these are the shapes its sources define.
const require = createRequire(import.meta.url)
const encodeRecord: EncodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0")
const {
  RecordBatch: encodeRecordBatch
}: { RecordBatch: EncodeRecordBatch } = require("kafkajs/src/protocol/recordBatch/v0")
const decodeRecordBatch: DecodeRecordBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder")
const Decoder: DecoderClass = require("kafkajs/src/protocol/decoder")
const decodeRecord: DecodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/decoder")
const Batch: BatchClass = require("kafkajs/src/consumer/batch")

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

// A record as the protocol lays it out (length left out: the record decoder starts after it).
const recordBytes = (timestampDelta: bigint, offsetDelta: number, key: Buffer, value: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from([0]), // attributes
    varLong(timestampDelta),
    varLong(BigInt(offsetDelta)),
    varLong(BigInt(key.length)),
    key,
    varLong(BigInt(value.length)),
    value,
    varLong(0n) // no headers
  ])

const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -(2n ** 53n), max: 2n ** 53n }),
  fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n }),
  fc.constantFrom(0n, -1n, 2n ** 48n - 1n, 2n ** 48n, -(2n ** 48n), 2n ** 53n - 1n, 2n ** 53n, INT64_MAX, INT64_MIN)
)
// Bases and deltas around 2^53, so sums cross it both ways.
const base = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 53n + 2n ** 32n }),
  fc.bigInt({ min: 2n ** 53n - 2n ** 32n, max: 2n ** 53n + 2n ** 32n }),
  fc.bigInt({ min: 0n, max: INT64_MAX - 2n ** 32n })
)
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })

describe("kafkajs decoder (patched)", () => {
  it("reads a varlong as the protocol defines it, past 2^53 too", () => {
    fc.assert(
      fc.property(int64, (n) => {
        const bytes = varLong(n)
        const decoder = new Decoder(Buffer.concat([bytes, Buffer.from([0x2a])]))
        assert.strictEqual(String(decoder.readVarLongNumber()), String(n))
        // It stops at the varlong's end, whichever path it took.
        assert.strictEqual(decoder.offset, bytes.length)
      }),
      { numRuns: 5_000 }
    )
  })

  it("gives a record's offset and timestamp as base + delta, exactly", () => {
    fc.assert(
      fc.property(
        base,
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        base,
        int32,
        fc.uint8Array({ maxLength: 8 }),
        (firstOffset, offsetDelta, firstTimestamp, timestampDelta, value) => {
          const key = Buffer.from("k")
          const bytes = recordBytes(BigInt(timestampDelta), offsetDelta, key, Buffer.from(value))
          const record = decodeRecord(new Decoder(bytes), {
            firstOffset: String(firstOffset),
            firstTimestamp: String(firstTimestamp),
            magicByte: 2,
            timestampType: 0
          })
          assert.strictEqual(record.offset, String(firstOffset + BigInt(offsetDelta)))
          assert.strictEqual(record.timestamp, String(firstTimestamp + BigInt(timestampDelta)))
          assert.deepStrictEqual(record.key, key)
          assert.deepStrictEqual(record.value, Buffer.from(value))
        }
      ),
      { numRuns: 3_000 }
    )
  })

  // The patched encoders take unzeroed memory: a byte left unwritten would
  // show here as a record that does not decode to what was encoded.
  it("decodes a record batch to the records encoded in it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.string({ maxLength: 20 }),
            value: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
            header: fc.option(fc.string({ maxLength: 10 }), { nil: null }),
            timestampDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 })
          }),
          { minLength: 1, maxLength: 50 }
        ),
        async (inputs) => {
          const firstTimestamp = 1_700_000_000_000
          const records = inputs.map((r, i) =>
            encodeRecord({
              key: Buffer.from(r.key),
              value: r.value === null ? null : Buffer.from(r.value),
              headers: r.header === null ? {} : { h: r.header },
              offsetDelta: i,
              timestampDelta: r.timestampDelta
            })
          )
          const batch = await encodeRecordBatch({
            firstTimestamp,
            maxTimestamp: firstTimestamp,
            lastOffsetDelta: inputs.length - 1,
            records
          })
          const decoded = await decodeRecordBatch(new Decoder(batch.buffer))
          assert.deepStrictEqual(
            decoded.records.map((r) => ({
              key: r.key?.toString(),
              value: r.value === null ? null : [...r.value],
              header: r.headers.h === undefined ? null : r.headers.h.toString(),
              offset: r.offset,
              timestamp: r.timestamp
            })),
            inputs.map((r, i) => ({
              key: r.key,
              value: r.value === null ? null : [...r.value],
              header: r.header,
              offset: String(i),
              timestamp: String(firstTimestamp + r.timestampDelta)
            }))
          )
        }
      ),
      { numRuns: 300 }
    )
  })

  it("keeps a batch's messages at or past the fetched offset, past 2^53 too", () => {
    fc.assert(
      fc.property(
        base,
        fc.array(fc.bigInt({ min: -(2n ** 33n), max: 2n ** 33n }), { maxLength: 20 }),
        (fetched, deltas) => {
          const offsets = deltas.map((d) => fetched + d).filter((o) => o >= 0n && o <= INT64_MAX)
          const batch = new Batch("t", String(fetched), {
            partition: 0,
            highWatermark: "0",
            abortedTransactions: [],
            messages: offsets.map((o) => ({ offset: String(o), isControlRecord: false }))
          })
          assert.deepStrictEqual(
            batch.messages.map((m) => m.offset),
            offsets.filter((o) => o >= fetched).map(String)
          )
        }
      ),
      { numRuns: 2_000 }
    )
  })
})
