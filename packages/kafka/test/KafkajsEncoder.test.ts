import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { varLong } from "./fixtures/varLong.ts"

// The kafkajs patch (patches/kafkajs@2.2.4.patch) rewrote four producer hot
// spots: varints written in place, 32-bit varlongs without BigInt arithmetic,
// the grouping of a request's messages per partition (it was quadratic), and
// the request frame (its payload was copied twice).
// Their output is checked here against references written from the Kafka
// protocol's definition (zigzag, then LEB128), not from kafkajs.

interface Encoder {
  writeBuffer(value: Buffer): Encoder
  writeVarInt(value: number): Encoder
  writeVarLong(value: number): Encoder
  readonly buffer: Buffer
}
interface EncoderClass {
  new (): Encoder
  sizeOfVarLong(value: number): number
}
interface Message {
  readonly key: string
  readonly partition: number
}
type Group = (options: {
  topic: string
  partitionMetadata: ReadonlyArray<{ partitionId: number }>
  messages: ReadonlyArray<Message>
  partitioner: (args: { message: Message }) => number
}) => Record<string, ReadonlyArray<Message>>

// kafkajs has no types for its internals; these are the shapes its sources define.
const require = createRequire(import.meta.url)
const Encoder: EncoderClass = require("kafkajs/src/protocol/encoder")
const groupMessagesPerPartition: Group = require("kafkajs/src/producer/groupMessagesPerPartition")
const createRequest: (options: {
  correlationId: number
  clientId: string
  request: { apiKey: number; apiVersion: number; encode: () => Promise<Encoder> }
}) => Promise<{ readonly buffer: Buffer }> = require("kafkajs/src/protocol/request")

// A request frame as the protocol defines it: INT32 size, then INT16 api key,
// INT16 api version, INT32 correlation id, STRING client id, then the body.
const referenceFrame = (apiKey: number, apiVersion: number, correlationId: number, clientId: string, body: Buffer) => {
  const head = Buffer.alloc(12)
  head.writeInt16BE(apiKey, 4)
  head.writeInt16BE(apiVersion, 6)
  head.writeInt32BE(correlationId, 8)
  const id = Buffer.from(clientId, "utf8")
  const idLength = Buffer.alloc(2)
  idLength.writeInt16BE(id.length)
  const frame = Buffer.concat([head, idLength, id, body])
  frame.writeInt32BE(frame.length - 4, 0)
  return frame
}

const referenceVarLong = (value: number): Buffer => varLong(BigInt(value))

const int32 = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 63, 64, -64, -65, 2 ** 31 - 1, -(2 ** 31)))
const safeInteger = fc.oneof(int32, fc.maxSafeInteger(), fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1))

describe("kafkajs encoder (patched)", () => {
  it("writes a 32-bit varint as the protocol defines it", () => {
    fc.assert(
      fc.property(int32, (value) => {
        assert.deepStrictEqual(new Encoder().writeVarInt(value).buffer, referenceVarLong(value))
      }),
      { numRuns: 2_000 }
    )
  })

  it("writes and sizes a varlong as the protocol defines it, inside and outside 32 bits", () => {
    fc.assert(
      fc.property(safeInteger, (value) => {
        const expected = referenceVarLong(value)
        assert.deepStrictEqual(new Encoder().writeVarLong(value).buffer, expected)
        assert.strictEqual(Encoder.sizeOfVarLong(value), expected.length)
      }),
      { numRuns: 2_000 }
    )
  })

  it("groups a request's messages per partition, in their order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ key: fc.string(), partition: fc.nat(7) }), { maxLength: 300 }),
        (partitions, drawn) => {
          const messages = drawn.map((m) => ({ key: m.key, partition: m.partition % partitions }))
          const grouped = groupMessagesPerPartition({
            topic: "t",
            partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({ partitionId })),
            messages,
            partitioner: ({ message }) => message.partition
          })
          const expected: Record<string, ReadonlyArray<Message>> = {}
          for (let p = 0; p < partitions; p++) {
            const own = messages.filter((m) => m.partition === p)
            if (own.length > 0) expected[String(p)] = own
          }
          assert.deepStrictEqual(grouped, expected)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("frames a request as the protocol defines it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.string(),
        fc.uint8Array({ maxLength: 5_000 }),
        async (apiKey, apiVersion, correlationId, clientId, body) => {
          const payload = Buffer.from(body)
          const frame = await createRequest({
            correlationId,
            clientId,
            request: { apiKey, apiVersion, encode: async () => new Encoder().writeBuffer(payload) }
          })
          assert.deepStrictEqual(frame.buffer, referenceFrame(apiKey, apiVersion, correlationId, clientId, payload))
        }
      ),
      { numRuns: 300 }
    )
  })
})
