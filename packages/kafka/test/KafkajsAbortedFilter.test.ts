import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"

// A read_committed fetch answers the partition's records and the aborted
// transactions among them (producer id, first offset), listed in the order
// they ended. With one producer per input partition, transactions of several
// producers interleave in an output partition, and one that began earlier can
// end later. The kafkajs patch (patches/kafkajs@2.2.4.patch) takes them by
// first offset, every one that began at or before a record; kafkajs took them
// in the order given and one per record, and so handed out records of aborted
// transactions. Checked against the definition: a data record is dropped
// exactly when the transaction it belongs to ended with an abort marker.

interface Message {
  readonly offset: string
  readonly key: Buffer | null
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean }
}
type Filter = (input: {
  readonly messages: ReadonlyArray<Message>
  readonly abortedTransactions: ReadonlyArray<{ readonly producerId: string; readonly firstOffset: string }>
}) => Array<Message>

const require = createRequire(import.meta.url)
const filterAbortedMessages: Filter = require("kafkajs/src/consumer/filterAbortedMessages")

// Control records' keys: version 0, then type 0 (abort) or 1 (commit).
const abortKey = Buffer.from([0, 0, 0, 0])
const commitKey = Buffer.from([0, 0, 0, 1])

/**
 * A partition's log written by `steps`: each step is a producer appending a
 * record to its open transaction or ending it (commit or abort). Answers the
 * records, the aborted transactions in the order their markers were written,
 * and the offsets of the records a read_committed reader keeps.
 */
const logOf = (steps: ReadonlyArray<{ readonly producer: number; readonly action: "send" | "commit" | "abort" }>) => {
  const messages: Array<Message> = []
  const aborted: Array<{ producerId: string; firstOffset: string; lastOffset: number }> = []
  const open = new Map<number, Array<number>>()
  const dropped = new Set<number>()
  for (const { producer, action } of steps) {
    const offset = messages.length
    const producerId = String(1000 + producer)
    const records = open.get(producer)
    if (action === "send") {
      messages.push({ offset: String(offset), key: null, batchContext: { producerId, inTransaction: true } })
      if (records === undefined) open.set(producer, [offset])
      else records.push(offset)
      continue
    }
    // A marker ends an open transaction only (the coordinator writes none for an empty one).
    if (records === undefined) continue
    open.delete(producer)
    messages.push({
      offset: String(offset),
      key: action === "abort" ? abortKey : commitKey,
      batchContext: { producerId, inTransaction: true }
    })
    if (action === "abort") {
      aborted.push({ producerId, firstOffset: String(records[0]), lastOffset: offset })
      for (const r of records) dropped.add(r)
    }
  }
  // Records of transactions still open are above the last stable offset: not fetched.
  const stable = Math.min(messages.length, ...[...open.values()].map((records) => records[0]!))
  const fetched = messages.slice(0, stable)
  const kept = fetched.filter((m) => !dropped.has(Number(m.offset))).map((m) => m.offset)
  return { messages: fetched, aborted, kept }
}

describe("kafkajs read_committed filter", () => {
  it("a transaction that began first and was aborted last is dropped", () => {
    // Producer 0 begins, producer 1 begins, producer 1 aborts, producer 0 aborts.
    const { messages, aborted, kept } = logOf([
      { producer: 0, action: "send" },
      { producer: 1, action: "send" },
      { producer: 0, action: "send" },
      { producer: 1, action: "abort" },
      { producer: 0, action: "abort" }
    ])
    assert.deepStrictEqual(
      aborted.map((a) => a.firstOffset),
      ["1", "0"]
    )
    const got = filterAbortedMessages({
      messages,
      abortedTransactions: aborted.map(({ producerId, firstOffset }) => ({ producerId, firstOffset }))
    }).map((m) => m.offset)
    assert.deepStrictEqual(got, kept)
    assert.deepStrictEqual(got, ["3", "4"])
  })

  it("interleaved transactions of several producers: exactly the aborted ones' records are dropped", () => {
    const step = fc.record({
      producer: fc.integer({ min: 0, max: 3 }),
      action: fc.constantFrom("send" as const, "send" as const, "commit" as const, "abort" as const)
    })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const { messages, aborted, kept } = logOf(steps)
        // A fetch may start anywhere: the broker lists the aborted transactions whose marker is at or after its start.
        for (const from of [0, Math.floor(messages.length / 2)]) {
          const part = messages.slice(from)
          const overlapping = aborted
            .filter((a) => a.lastOffset >= from)
            .map(({ producerId, firstOffset }) => ({ producerId, firstOffset }))
          const got = filterAbortedMessages({ messages: part, abortedTransactions: overlapping }).map((m) => m.offset)
          assert.deepStrictEqual(
            got,
            kept.filter((o) => Number(o) >= from)
          )
        }
      }),
      { numRuns: 500 }
    )
  })
})
