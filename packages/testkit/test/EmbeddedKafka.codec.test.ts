import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { crc32c } from "../src/internal/protocol/crc32c.ts"
import { encodeApiVersions } from "../src/internal/protocol/header.ts"
import { ProtocolError, Reader } from "../src/internal/protocol/reader.ts"
import {
  COMPRESSION_GZIP,
  checkBatch,
  decodeRecords,
  encodeBatch,
  setBaseOffset
} from "../src/internal/protocol/recordBatch.ts"
import { Writer } from "../src/internal/protocol/writer.ts"

const roundTrip = (write: (w: Writer) => void): Reader => {
  const w = new Writer(4)
  write(w)
  return new Reader(w.toBuffer())
}

describe("protocol codec", () => {
  it.effect("crc32c - matches the standard check value", () =>
    Effect.sync(() => {
      assert.strictEqual(crc32c(Buffer.from("123456789")), 0xe3069283)
      assert.strictEqual(crc32c(Buffer.alloc(0)), 0)
    })
  )

  it.effect("Writer/Reader - round-trip primitives and strings across buffer growth", () =>
    Effect.sync(() => {
      const long = "é".repeat(3000)
      const r = roundTrip((w) => {
        w.int8(-3)
          .int16(-300)
          .int32(-70000)
          .uint32(0xfffffffe)
          .int64(-(2 ** 40))
          .bool(true)
        w.string("hello")
          .nullableString(null)
          .string(long)
          .bytes(Buffer.from([1, 2, 3]))
          .nullableBytes(null)
        w.array([1, 2, 3], (w, n) => w.int32(n))
      })
      assert.strictEqual(r.int8(), -3)
      assert.strictEqual(r.int16(), -300)
      assert.strictEqual(r.int32(), -70000)
      assert.strictEqual(r.uint32(), 0xfffffffe)
      assert.strictEqual(r.int64n(), -(2 ** 40))
      assert.isTrue(r.bool())
      assert.strictEqual(r.string(), "hello")
      assert.isNull(r.nullableString())
      assert.strictEqual(r.string(), long)
      assert.deepStrictEqual([...r.bytes()], [1, 2, 3])
      assert.isNull(r.nullableBytes())
      assert.deepStrictEqual(
        r.array((r) => r.int32()),
        [1, 2, 3]
      )
      assert.strictEqual(r.remaining, 0)
    })
  )

  it.effect("Writer/Reader - varints, varlongs and compact encodings round-trip", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.string(), (n, s) => {
          const r = roundTrip((w) => {
            w.varint(n)
              .varlong(n * 1000)
              .compactString(s)
              .compactNullableString(null)
              .taggedFields()
            w.compactArray([n], (w, x) => w.varint(x))
          })
          assert.strictEqual(r.varint(), n)
          assert.strictEqual(r.varlong(), n * 1000)
          assert.strictEqual(r.compactString(), s)
          assert.isNull(r.compactNullableString())
          r.taggedFields()
          assert.deepStrictEqual(
            r.compactArray((r) => r.varint()),
            [n]
          )
        })
      )
      const r = roundTrip((w) => w.uvarint(300))
      assert.deepStrictEqual([...r.buf], [0xac, 0x02])
    })
  )

  it.effect("Reader - truncated input raises ProtocolError", () =>
    Effect.sync(() => {
      assert.throws(() => new Reader(Buffer.from([0, 5, 97])).string(), ProtocolError)
      assert.throws(() => new Reader(Buffer.from([0, 0, 0, 9])).array((r) => r.int32()), ProtocolError)
      assert.throws(() => new Reader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).uvarint(), ProtocolError)
    })
  )

  it.effect("recordBatch - encodes, validates CRC and decodes records, plain and gzip", () =>
    Effect.sync(() => {
      for (const compression of [0, COMPRESSION_GZIP] as const) {
        const batch = encodeBatch(
          [
            { key: Buffer.from("k"), value: Buffer.from("v1"), timestamp: 1000, headers: [{ key: "h", value: null }] },
            { key: null, value: Buffer.from("v2"), timestamp: 1500 }
          ],
          { compression, producerId: 9, producerEpoch: 1, baseSequence: 4 }
        )
        const check = checkBatch(batch, 0, batch.length)
        assert.strictEqual(check._tag, "Ok")
        if (check._tag !== "Ok") return
        assert.strictEqual(check.header.size, batch.length)
        assert.strictEqual(check.header.lastOffsetDelta, 1)
        assert.strictEqual(check.header.maxTimestamp, 1500)
        assert.strictEqual(check.header.producerId, 9)
        assert.strictEqual(check.header.baseSequence, 4)
        setBaseOffset(batch, 40)
        assert.strictEqual(checkBatch(batch, 0, batch.length)._tag, "Ok")
        const records = decodeRecords(batch)
        assert.deepStrictEqual(
          records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString()]),
          [
            [40, 1000, "k", "v1"],
            [41, 1500, null, "v2"]
          ]
        )
        assert.deepStrictEqual(records[0]!.headers, [{ key: "h", value: null }])
        batch[batch.length - 1]! ^= 0xff
        assert.strictEqual(checkBatch(batch, 0, batch.length)._tag, "Corrupt")
        assert.strictEqual(checkBatch(batch, 0, batch.length - 1)._tag, "Truncated")
      }
    })
  )

  it.effect("recordBatch - rejects other magic values and codecs", () =>
    Effect.sync(() => {
      const batch = encodeBatch([{ value: Buffer.from("x") }])
      const magic = Buffer.from(batch)
      magic.writeInt8(1, 16)
      assert.strictEqual(checkBatch(magic, 0, magic.length, false)._tag, "UnsupportedMagic")
      const snappy = Buffer.from(batch)
      snappy.writeInt16BE(2, 21)
      assert.strictEqual(checkBatch(snappy, 0, snappy.length, false)._tag, "UnsupportedCompression")
    })
  )

  it.effect("ApiVersions - v3 uses compact arrays and tagged fields, v0 plain arrays", () =>
    Effect.sync(() => {
      const w3 = new Writer()
      encodeApiVersions(w3, 3, 0)
      const r3 = new Reader(w3.toBuffer())
      assert.strictEqual(r3.int16(), 0)
      const keys = r3.compactArray((r) => {
        const k = [r.int16(), r.int16(), r.int16()]
        r.taggedFields()
        return k
      })
      assert.isTrue(keys!.some(([k, , max]) => k === 18 && max === 3))
      assert.strictEqual(r3.int32(), 0)
      r3.taggedFields()
      assert.strictEqual(r3.remaining, 0)
      const w0 = new Writer()
      encodeApiVersions(w0, 0, 35)
      const r0 = new Reader(w0.toBuffer())
      assert.strictEqual(r0.int16(), 35)
      assert.strictEqual(r0.array((r) => [r.int16(), r.int16(), r.int16()], 6).length, keys!.length)
      assert.strictEqual(r0.remaining, 0)
    })
  )
})
