import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { ApiKey } from "../src/internal/protocol/apiKeys.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { connectRaw, type RawClient } from "./rawClient.ts"

const join = async (client: RawClient) => {
  const r = new Reader(
    await client.request(ApiKey.JoinGroup, 3, (w) => {
      w.string("eos").int32(10_000).int32(10_000).string("").string("consumer")
      w.int32(1).string("range").bytes(Buffer.alloc(0))
    })
  )
  r.int32()
  r.int16()
  const generationId = r.int32()
  r.string()
  r.string()
  return { generationId, memberId: r.string() }
}

/** TxnOffsetCommit v3 (flexible): request header v2 and response header v1 both carry an empty tagged-field section. */
const txnOffsetCommitV3 = async (
  client: RawClient,
  producer: { id: bigint; epoch: number },
  generationId: number,
  memberId: string,
  offset: number
) => {
  const r = new Reader(
    await client.request(ApiKey.TxnOffsetCommit, 3, (w) => {
      w.uvarint(0) // request header v2 tagged fields
      w.compactString("eos-tx").compactString("eos").int64(producer.id).int16(producer.epoch)
      w.int32(generationId).compactString(memberId).compactNullableString(null)
      w.compactArray(["in"], (w, name) => {
        w.compactString(name)
        w.compactArray([0], (w, p) => {
          w.int32(p).int64(offset).int32(-1).compactNullableString(null).taggedFields()
        })
        w.taggedFields()
      })
      w.taggedFields()
    })
  )
  r.taggedFields() // response header v1
  r.int32()
  const topics = r.compactArray((r) => {
    r.compactString()
    const codes = r.compactArray((r) => {
      r.int32()
      const code = r.int16()
      r.taggedFields()
      return code
    })
    r.taggedFields()
    return codes
  })
  r.taggedFields()
  return topics?.[0]?.[0]
}

describe("KIP-447", () => {
  it.effect(
    "txnOffsetCommit - v3 checks the consumer's generation and member id, and commits with the transaction",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        const codes = yield* Effect.promise(async () => {
          const client = await connectRaw(broker.port)
          const member = await join(client)
          const init = new Reader(
            await client.request(ApiKey.InitProducerId, 1, (w) => {
              w.nullableString("eos-tx").int32(10_000)
            })
          )
          init.int32()
          assert.strictEqual(init.int16(), 0)
          const producer = { id: init.int64(), epoch: init.int16() }
          const added = new Reader(
            await client.request(ApiKey.AddOffsetsToTxn, 1, (w) => {
              w.string("eos-tx").int64(producer.id).int16(producer.epoch).string("eos")
            })
          )
          added.int32()
          assert.strictEqual(added.int16(), 0)
          const stale = await txnOffsetCommitV3(client, producer, member.generationId - 1, member.memberId, 7)
          const stranger = await txnOffsetCommitV3(client, producer, member.generationId, "someone-else", 7)
          const current = await txnOffsetCommitV3(client, producer, member.generationId, member.memberId, 9)
          const ended = new Reader(
            await client.request(ApiKey.EndTxn, 1, (w) => {
              w.string("eos-tx").int64(producer.id).int16(producer.epoch).int8(1)
            })
          )
          ended.int32()
          const end = ended.int16()
          client.close()
          return { stale, stranger, current, end }
        })
        assert.deepStrictEqual(codes, { stale: 22, stranger: 25, current: 0, end: 0 })
        assert.strictEqual((yield* broker.committedOffsets("eos")).get("in")?.get(0), 9)
      })
  )
})
