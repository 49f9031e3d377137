// The coalescing producer behind `KafkaSink.producer`, over a fake producer
// whose requests are answered by the test: sends made while a request is out
// go together in the next one, in order, and each is answered by that request.
import { assert, describe, it } from "@effect/vitest"
import { coalescing } from "../src/internal/coalescing.ts"
import type * as KafkaLike from "../src/KafkaLike.ts"

interface Request {
  readonly topicMessages: ReadonlyArray<KafkaLike.TopicMessages>
  readonly acks: number | undefined
  readonly answer: (error?: unknown) => void
}

// A producer that holds every request until the test answers it; an answer
// has one partition entry per topic of the request.
const fakeProducer = () => {
  const requests: Array<Request> = []
  const producer: KafkaLike.Producer = {
    connect: async () => {},
    disconnect: async () => {},
    send: () => Promise.reject(new Error("the coalescing producer only calls sendBatch")),
    sendBatch: ({ acks, topicMessages = [] }) =>
      new Promise((resolve, reject) => {
        requests.push({
          topicMessages,
          acks,
          answer: (error) =>
            error === undefined
              ? resolve(topicMessages.map((t) => ({ topicName: t.topic, partition: 0, errorCode: 0 })))
              : reject(error)
        })
      })
  }
  return { producer, requests }
}

const message = (value: string): KafkaLike.Message => ({ key: null, value })
const values = (request: Request) =>
  request.topicMessages.map((t) => `${t.topic}:${t.messages.map((m) => m.value).join(",")}`)
const settled = () => new Promise((resolve) => setImmediate(resolve))

describe("coalescing producer", () => {
  it("sends at once when idle, and merges what waits behind a request into one, in order", async () => {
    const { producer, requests } = fakeProducer()
    const coalesced = coalescing(producer)
    const first = coalesced.send({ topic: "a", messages: [message("1")], acks: -1 })
    assert.strictEqual(requests.length, 1)
    const second = coalesced.send({ topic: "b", messages: [message("2")], acks: -1 })
    const third = coalesced.sendBatch({
      topicMessages: [
        { topic: "a", messages: [message("3")] },
        { topic: "c", messages: [message("4")] }
      ],
      acks: -1
    })
    const fourth = coalesced.send({ topic: "b", messages: [message("5"), message("6")], acks: -1 })
    assert.strictEqual(requests.length, 1, "the others wait for the first request")
    requests[0]!.answer()
    assert.deepStrictEqual(
      (await first).map((m) => m.topicName),
      ["a"]
    )
    await settled()
    assert.strictEqual(requests.length, 2)
    assert.deepStrictEqual(values(requests[1]!), ["b:2,5,6", "a:3", "c:4"])
    assert.strictEqual(requests[1]!.acks, -1)
    requests[1]!.answer()
    // Each send is answered with its own topics only.
    assert.deepStrictEqual(
      (await second).map((m) => m.topicName),
      ["b"]
    )
    assert.deepStrictEqual(
      (await third).map((m) => m.topicName),
      ["a", "c"]
    )
    assert.deepStrictEqual(
      (await fourth).map((m) => m.topicName),
      ["b"]
    )
  })

  it("fails every send of a failed request, and goes on with the next", async () => {
    const { producer, requests } = fakeProducer()
    const coalesced = coalescing(producer)
    const first = coalesced.send({ topic: "a", messages: [message("1")] })
    const second = coalesced.send({ topic: "a", messages: [message("2")] })
    const third = coalesced.send({ topic: "b", messages: [message("3")] })
    requests[0]!.answer()
    await first
    await settled()
    const boom = new Error("broker said no")
    requests[1]!.answer(boom)
    const outcomes = await Promise.allSettled([second, third])
    assert.deepStrictEqual(
      outcomes.map((o) => (o.status === "rejected" ? o.reason : "fulfilled")),
      [boom, boom]
    )
    const fourth = coalesced.send({ topic: "a", messages: [message("4")] })
    assert.strictEqual(requests.length, 3, "an idle producer sends at once after a failure")
    requests[2]!.answer()
    await fourth
  })

  it("does not merge sends of different acks or timeouts, nor past the record cap", async () => {
    const { producer, requests } = fakeProducer()
    const coalesced = coalescing(producer)
    const pending = [
      coalesced.send({ topic: "a", messages: [message("0")] }),
      coalesced.send({ topic: "a", messages: [message("1")], acks: -1 }),
      coalesced.send({ topic: "a", messages: [message("2")], acks: 1 }),
      coalesced.send({ topic: "a", messages: [message("3")], acks: 1, timeout: 5 }),
      coalesced.send({
        topic: "a",
        messages: Array.from({ length: 8_192 }, (_, i) => message(`big${i}`)),
        acks: 1,
        timeout: 5
      })
    ]
    const sizes: Array<number> = []
    while (sizes.length < 5) {
      await settled()
      const request = requests[sizes.length]
      if (request === undefined) break
      sizes.push(request.topicMessages[0]!.messages.length)
      request.answer()
    }
    await Promise.all(pending)
    assert.deepStrictEqual(sizes, [1, 1, 1, 1, 8_192])
  })
})
