import { assert, describe, it } from "@effect/vitest"
import { PolicyError } from "@sluice/core"
import { Effect } from "effect"
import {
  KafkaJSAggregateError,
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError
} from "kafkajs"
import * as KafkaError from "../src/KafkaError.ts"

// kafkajs builds protocol errors from the broker's error-code table entries.
const protocolError = (type: string, code: number, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(type), { type, code, retriable }) as unknown as Error)

describe("KafkaError", () => {
  it("fromUnknown - a connection error is retryable and names the broker", () => {
    const error = KafkaError.fromUnknown(
      "send",
      new KafkaJSConnectionError("Connection error: connect ECONNREFUSED", { broker: "b1:9092", code: "ECONNREFUSED" })
    )
    assert.deepStrictEqual(error.reason, new KafkaError.Connection({ broker: "b1:9092", code: "ECONNREFUSED" }))
    assert.isTrue(error.isRetryable)
    assert.isTrue(PolicyError.isRetryable(error))
    assert.strictEqual(error.message, "send: cannot reach broker b1:9092 (ECONNREFUSED)")
  })

  it("fromUnknown - protocol errors keep their type, code and retriable flag", () => {
    const leader = KafkaError.fromUnknown("send", protocolError("NOT_LEADER_FOR_PARTITION", 6, true))
    assert.deepStrictEqual(
      leader.reason,
      new KafkaError.Protocol({ type: "NOT_LEADER_FOR_PARTITION", code: 6, retryable: true })
    )
    assert.isTrue(leader.isRetryable)
    const denied = KafkaError.fromUnknown("send", protocolError("TOPIC_AUTHORIZATION_FAILED", 29, false))
    assert.isFalse(denied.isRetryable)
    assert.strictEqual(denied.message, "send: broker error TOPIC_AUTHORIZATION_FAILED (29)")
  })

  it("fromUnknown - exhausted client retries are retryable only when the last failure was", () => {
    const transient = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError("Connection error"), {
      retryCount: 5,
      retryTime: 3000
    })
    const exhausted = KafkaError.fromUnknown("connect", transient)
    assert.deepStrictEqual(
      exhausted.reason,
      new KafkaError.RetriesExhausted({ retryCount: 5, last: "Connection error", retryable: true })
    )
    assert.isTrue(exhausted.isRetryable)
    const final = new KafkaJSNumberOfRetriesExceeded(new KafkaJSNonRetriableError("Invalid topics"), {
      retryCount: 0,
      retryTime: 0
    })
    assert.isFalse(KafkaError.fromUnknown("createTopics", final).isRetryable)
  })

  it("fromUnknown - authentication failures are not retryable", () => {
    // The typings omit the message argument the constructor takes.
    const Sasl = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error
    const error = KafkaError.fromUnknown("connect", new Sasl("SASL SCRAM SHA512 authentication failed"))
    assert.strictEqual(error.reason._tag, "Authentication")
    assert.isFalse(error.isRetryable)
  })

  it("fromUnknown - request timeouts are retryable", () => {
    const error = KafkaError.fromUnknown(
      "send",
      new KafkaJSRequestTimeoutError("Request Produce(key: 0, version: 7) timed out", {
        broker: "b1:9092",
        clientId: "c",
        correlationId: 1,
        createdAt: 0,
        sentAt: 0,
        pendingDuration: 0
      })
    )
    assert.strictEqual(error.reason._tag, "Timeout")
    assert.isTrue(error.isRetryable)
  })

  it("fromUnknown - an aggregate is classified by its first error", () => {
    const aggregate = new KafkaJSAggregateError("Topic creation errors", [
      protocolError("INVALID_REPLICATION_FACTOR", 38, false)
    ])
    const error = KafkaError.fromUnknown("createTopics", aggregate)
    assert.strictEqual(error.reason._tag, "Protocol")
    assert.isFalse(error.isRetryable)
  })

  it("fromUnknown - other errors follow their retriable flag", () => {
    assert.isTrue(KafkaError.fromUnknown("send", new KafkaJSError("Something transient")).isRetryable)
    assert.isFalse(KafkaError.fromUnknown("send", new KafkaJSNonRetriableError("Broken")).isRetryable)
    const plain = KafkaError.fromUnknown("send", new TypeError("x is not a function"))
    assert.strictEqual(plain.reason._tag, "Unknown")
    assert.isFalse(plain.isRetryable)
    assert.strictEqual(plain.message, "send: client failure: x is not a function")
    assert.isFalse(KafkaError.fromUnknown("send", "a string").isRetryable)
  })

  it("fromUnknown - a connection error kafkajs wrapped as non-retriable is a connection error", () => {
    const refused = new KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092", {
      broker: "127.0.0.1:9092",
      code: "ECONNREFUSED"
    })
    // As kafkajs' retrier gives up: the wrapped error and its cause.
    const error = KafkaError.fromUnknown(
      "send",
      Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused })
    )
    assert.strictEqual(error.reason._tag, "Connection")
    assert.isTrue(error.isRetryable)
    // Any other wrapped cause stays final.
    const broken = new KafkaJSError("Broken")
    const wrapped = KafkaError.fromUnknown(
      "send",
      Object.assign(new KafkaJSNonRetriableError(broken), { cause: broken })
    )
    assert.isFalse(wrapped.isRetryable)
  })

  it("fromUnknown - a KafkaError passes through unchanged", () => {
    const original = KafkaError.timeout("connect", 1000)
    assert.strictEqual(KafkaError.fromUnknown("other", original), original)
  })

  it.effect("attempt - a rejected promise fails with the classified error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        KafkaError.attempt("commitOffsets", () => Promise.reject(protocolError("REBALANCE_IN_PROGRESS", 27, true)))
      )
      assert.strictEqual(error.operation, "commitOffsets")
      assert.isTrue(error.isRetryable)
    })
  )

  it("decode - is never retryable and reads as one line", () => {
    const error = KafkaError.decode("claim_id: Missing key")
    assert.isFalse(error.isRetryable)
    assert.strictEqual(error.message, "decode: cannot decode record: claim_id: Missing key")
  })

  it("isFenced - a refused producer epoch, as kafkajs throws it directly or wrapped, is a fence; other errors are not", () => {
    const epoch = protocolError("INVALID_PRODUCER_EPOCH", 47, false)
    assert.isTrue(KafkaError.isFenced(KafkaError.fromUnknown("send", epoch)))
    // As kafkajs' retrier gives up: the wrapper, whose own fields are not the protocol error's, and its cause.
    assert.isTrue(
      KafkaError.isFenced(
        KafkaError.fromUnknown(
          "commitTransaction",
          Object.assign(new KafkaJSNonRetriableError(epoch), { cause: epoch })
        )
      )
    )
    // PRODUCER_FENCED (90) is not in kafkajs 2.2.4's table: it reports an unknown code.
    const unknown = new KafkaJSProtocolError(
      Object.assign(new Error("Unknown error code 90"), {
        type: "KAFKAJS_UNKNOWN_ERROR_CODE",
        code: -99,
        retriable: false
      }) as unknown as Error
    )
    assert.isTrue(KafkaError.isFenced(KafkaError.fromUnknown("sendOffsets", unknown)))
    assert.isFalse(
      KafkaError.isFenced(KafkaError.fromUnknown("send", protocolError("NOT_LEADER_FOR_PARTITION", 6, true)))
    )
    assert.isFalse(
      KafkaError.isFenced(KafkaError.fromUnknown("send", protocolError("KAFKAJS_UNKNOWN_ERROR_CODE", -99, false)))
    )
  })
})
