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

/** OffsetFetch v7 (flexible) of partitions 0 and 1 of "in": each partition's offset and error code. */
const offsetFetchV7 = async (client: RawClient, requireStable: boolean) => {
  const r = new Reader(
    await client.request(ApiKey.OffsetFetch, 7, (w) => {
      w.uvarint(0) // request header v2 tagged fields
      w.compactString("eos")
      w.compactArray(["in"], (w, name) => {
        w.compactString(name)
        w.compactArray([0, 1], (w, p) => {
          w.int32(p)
        })
        w.taggedFields()
      })
      w.bool(requireStable)
      w.taggedFields()
    })
  )
  r.taggedFields() // response header v1
  r.int32()
  const partitions =
    r.compactArray((r) => {
      r.compactString()
      const answers = r.compactArray((r) => {
        const index = r.int32()
        const offset = Number(r.int64n())
        r.int32()
        r.compactNullableString()
        const errorCode = r.int16()
        r.taggedFields()
        return { index, offset, errorCode }
      })
      r.taggedFields()
      return answers ?? []
    }) ?? []
  assert.strictEqual(r.int16(), 0)
  r.taggedFields()
  return partitions.flat()
}

const beginWithOffsets = async (client: RawClient) => {
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
  return producer
}

const endTxn = async (client: RawClient, producer: { id: bigint; epoch: number }) => {
  const ended = new Reader(
    await client.request(ApiKey.EndTxn, 1, (w) => {
      w.string("eos-tx").int64(producer.id).int16(producer.epoch).int8(1)
    })
  )
  ended.int32()
  return ended.int16()
}

describe("KIP-447", () => {
  it.effect(
    "offsetFetch - v7 with require_stable answers UNSTABLE_OFFSET_COMMIT for a partition whose offset an open transaction holds, until it ends",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        const seen = yield* Effect.promise(async () => {
          const client = await connectRaw(broker.port)
          const producer = await beginWithOffsets(client)
          // Without a generation: the offsets are not checked against a member.
          assert.strictEqual(await txnOffsetCommitV3(client, producer, -1, "", 9), 0)
          const open = await offsetFetchV7(client, true)
          const openUnstable = await offsetFetchV7(client, false)
          assert.strictEqual(await endTxn(client, producer), 0)
          const ended = await offsetFetchV7(client, true)
          client.close()
          return { open, openUnstable, ended }
        })
        const unstable = 88
        assert.deepStrictEqual(seen, {
          // Partition 0's offset is in the open transaction; partition 1 has none anywhere.
          open: [
            { index: 0, offset: -1, errorCode: unstable },
            { index: 1, offset: -1, errorCode: 0 }
          ],
          // Not asking for stable offsets answers the last committed one (none yet).
          openUnstable: [
            { index: 0, offset: -1, errorCode: 0 },
            { index: 1, offset: -1, errorCode: 0 }
          ],
          ended: [
            { index: 0, offset: 9, errorCode: 0 },
            { index: 1, offset: -1, errorCode: 0 }
          ]
        })
      })
  )

  it.effect(
    "txnOffsetCommit - v3 checks the consumer's generation and member id, and commits with the transaction",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        const codes = yield* Effect.promise(async () => {
          const client = await connectRaw(broker.port)
          const member = await join(client)
          const producer = await beginWithOffsets(client)
          const stale = await txnOffsetCommitV3(client, producer, member.generationId - 1, member.memberId, 7)
          const stranger = await txnOffsetCommitV3(client, producer, member.generationId, "someone-else", 7)
          const current = await txnOffsetCommitV3(client, producer, member.generationId, member.memberId, 9)
          const end = await endTxn(client, producer)
          client.close()
          return { stale, stranger, current, end }
        })
        assert.deepStrictEqual(codes, { stale: 22, stranger: 25, current: 0, end: 0 })
        assert.strictEqual((yield* broker.committedOffsets("eos")).get("in")?.get(0), 9)
      })
  )
})
