import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Redacted, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Kafkajs from "../src/internal/kafkajs.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import { makeFakeKafka, never } from "./fixtures/FakeKafka.ts"

const fromEnv = (env: Record<string, string>) =>
  KafkaClient.config.parse(ConfigProvider.fromEnv({ env })).pipe(Effect.result)

const configError = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const result = yield* fromEnv(env)
    assert.isTrue(result._tag === "Failure", "expected a ConfigError")
    return result._tag === "Failure" ? result.failure.message : ""
  })

describe("KafkaClient", () => {
  it.effect("fromKafka - connects an admin client at start and disconnects it on release", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      const scope = yield* Scope.make()
      const client = yield* KafkaClient.fromKafka(fake, { clientId: "claims" }).pipe(Scope.provide(scope))
      assert.strictEqual(client.clientId, "claims")
      assert.deepStrictEqual(fake.calls, ["admin.connect"])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(fake.calls, ["admin.connect", "admin.disconnect"])
    })
  )

  it.effect("producer - is connected on acquire and disconnected when its scope closes", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      const client = yield* KafkaClient.fromKafka(fake)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* client.producer()
          yield* client.consumer({ groupId: "g" })
          assert.deepStrictEqual(fake.calls.slice(1), ["producer.connect", "consumer.connect"])
        })
      )
      assert.deepStrictEqual(fake.calls.slice(3), ["consumer.disconnect", "producer.disconnect"])
    })
  )

  it.effect("fromKafka - a connect slower than connectTimeout fails with a Timeout at that moment", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka({ connect: never })
      const fiber = yield* KafkaClient.fromKafka(fake, { connectTimeout: "2 seconds" }).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.forkChild
      )
      yield* Effect.yieldNow
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.operation, "admin.connect")
      assert.deepStrictEqual(error.reason._tag === "Timeout" ? error.reason.timeoutMillis : undefined, 2000)
      assert.isTrue(error.isRetryable)
      // The abandoned connect is told to stop.
      assert.include(fake.calls, "admin.disconnect")
    })
  )

  it.effect("fromKafka - a connect rejected by the client becomes a classified KafkaError", () =>
    Effect.gen(function* () {
      const refused = Object.assign(new Error("Connection error: connect ECONNREFUSED"), {
        name: "KafkaJSConnectionError",
        broker: "b1:9092",
        code: "ECONNREFUSED",
        retriable: true
      })
      const fake = makeFakeKafka({ connect: () => Promise.reject(refused) })
      const error = yield* Effect.flip(Effect.scoped(KafkaClient.fromKafka(fake)))
      assert.strictEqual(error.reason._tag, "Connection")
      assert.strictEqual(error.message, "admin.connect: cannot reach broker b1:9092 (ECONNREFUSED)")
    })
  )

  it.effect("fromKafka - release waits at most disconnectTimeout for a hanging disconnect", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka({ disconnect: never })
      const scope = yield* Scope.make()
      yield* KafkaClient.fromKafka(fake, { disconnectTimeout: "3 seconds" }).pipe(Scope.provide(scope))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.yieldNow
      yield* TestClock.adjust("2999 millis")
      assert.isUndefined(closing.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      assert.include(fake.calls, "admin.disconnect")
    })
  )

  it.live("make - with kafkajs, an unreachable broker fails with a retryable KafkaError", () =>
    Effect.gen(function* () {
      // Nothing listens on port 1, so the connection is refused at once.
      const error = yield* KafkaClient.make({
        brokers: ["127.0.0.1:1"],
        retry: { retries: 1, initialRetryTime: 20 },
        logLevel: "None"
      }).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error.operation, "admin.connect")
      assert.strictEqual(error.reason._tag, "RetriesExhausted")
      assert.include(error.message, "ECONNREFUSED")
      assert.isTrue(error.isRetryable)
    })
  )

  it.effect("config - reads brokers, client id, TLS and SASL from the environment", () =>
    Effect.gen(function* () {
      const result = yield* fromEnv({
        KAFKA_BOOTSTRAP_SERVERS: "b1:9092, b2:9093,",
        KAFKA_CLIENT_ID: "claims-enricher",
        KAFKA_TLS_CA: "-----BEGIN CERTIFICATE-----",
        KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
        KAFKA_SASL_USERNAME: "sluice",
        KAFKA_SASL_PASSWORD: "s3cret",
        KAFKA_CONNECT_TIMEOUT: "7 seconds"
      })
      assert.isTrue(result._tag === "Success")
      if (result._tag !== "Success") return
      const options = result.success
      assert.deepStrictEqual(options.brokers, ["b1:9092", "b2:9093"])
      assert.strictEqual(options.clientId, "claims-enricher")
      assert.deepStrictEqual(options.tls, { ca: "-----BEGIN CERTIFICATE-----" })
      assert.strictEqual(options.sasl?.mechanism, "scram-sha-512")
      assert.strictEqual(options.sasl?.username, "sluice")
      assert.strictEqual(Redacted.value(options.sasl!.password), "s3cret")
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout!)), 7000)
      assert.notInclude(JSON.stringify(options), "s3cret")
      assert.notInclude(String(options.sasl?.password), "s3cret")
    })
  )

  it.effect("config - defaults to client id sluice, plain TCP and no SASL", () =>
    Effect.gen(function* () {
      const result = yield* fromEnv({ KAFKA_BOOTSTRAP_SERVERS: "localhost:9092" })
      assert.deepStrictEqual(result._tag === "Success" ? result.success : undefined, {
        brokers: ["localhost:9092"],
        clientId: "sluice",
        tls: false
      })
    })
  )

  it.effect("config - a missing or malformed KAFKA_BOOTSTRAP_SERVERS is named in the error", () =>
    Effect.gen(function* () {
      assert.include(yield* configError({}), "KAFKA_BOOTSTRAP_SERVERS")
      const malformed = yield* configError({ KAFKA_BOOTSTRAP_SERVERS: "b1:9092,b2" })
      assert.include(malformed, "KAFKA_BOOTSTRAP_SERVERS")
      assert.include(malformed, `"b2"`)
      assert.include(yield* configError({ KAFKA_BOOTSTRAP_SERVERS: " , " }), "at least one")
      assert.include(yield* configError({ KAFKA_BOOTSTRAP_SERVERS: "b1:70000" }), "b1:70000")
    })
  )

  it.effect("config - bad SASL and TLS settings fail naming the variable", () =>
    Effect.gen(function* () {
      const brokers = { KAFKA_BOOTSTRAP_SERVERS: "b1:9092" }
      const mechanism = yield* configError({ ...brokers, KAFKA_SASL_MECHANISM: "gssapi" })
      assert.include(mechanism, "KAFKA_SASL_MECHANISM")
      assert.include(mechanism, "scram-sha-256")
      const password = yield* configError({ ...brokers, KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_USERNAME: "u" })
      assert.include(password, "KAFKA_SASL_PASSWORD")
      assert.include(yield* configError({ ...brokers, KAFKA_SASL_USERNAME: "u" }), "KAFKA_SASL_MECHANISM")
      assert.include(yield* configError({ ...brokers, KAFKA_TLS: "perhaps" }), "KAFKA_TLS")
      const conflict = yield* configError({ ...brokers, KAFKA_TLS: "false", KAFKA_TLS_CA: "pem" })
      assert.include(conflict, "KAFKA_TLS_CA")
      assert.include(yield* configError({ ...brokers, KAFKA_CONNECT_TIMEOUT: "soon" }), "KAFKA_CONNECT_TIMEOUT")
    })
  )

  it.effect("config - the password does not appear in the error for another variable", () =>
    Effect.gen(function* () {
      const message = yield* configError({
        KAFKA_BOOTSTRAP_SERVERS: "b1:9092",
        KAFKA_SASL_MECHANISM: "bogus",
        KAFKA_SASL_USERNAME: "u",
        KAFKA_SASL_PASSWORD: "s3cret"
      })
      assert.notInclude(message, "s3cret")
    })
  )

  it.effect("layerConfig - fails with the ConfigError before touching the network", () =>
    Effect.gen(function* () {
      const exit = yield* Layer.build(KafkaClient.layerConfig()).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))),
        Effect.scoped,
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "KAFKA_BOOTSTRAP_SERVERS")
    })
  )
})

describe("kafkajs settings", () => {
  const settings: Kafkajs.Settings = {
    brokers: ["b1:9092"],
    clientId: "c",
    tls: { ca: "pem", key: Redacted.make("private"), rejectUnauthorized: false },
    sasl: { mechanism: "scram-sha-256", username: "u", password: Redacted.make("pw") },
    requestTimeout: Duration.seconds(30),
    logLevel: "Warn",
    retry: { retries: 2 }
  }

  it("config - unwraps secrets only in the configuration handed to kafkajs", () => {
    const config = Kafkajs.config(settings, () => {})
    assert.deepStrictEqual(config.sasl, { mechanism: "scram-sha-256", username: "u", password: "pw" })
    assert.deepStrictEqual(config.ssl, { ca: "pem", key: "private", rejectUnauthorized: false })
    assert.strictEqual(config.requestTimeout, 30_000)
    assert.deepStrictEqual(config.retry, { retries: 2 })
  })

  it("config - log lines keep the message, namespace, broker and error only", () => {
    const lines: Array<Kafkajs.LogLine> = []
    const config = Kafkajs.config(settings, (line) => lines.push(line))
    const log = config.logCreator!(2)
    log({
      namespace: "Connection",
      level: 1,
      label: "ERROR",
      log: {
        timestamp: "t",
        message: "Connection error",
        broker: "b1:9092",
        error: "ECONNREFUSED",
        sasl: { password: "pw" }
      }
    })
    assert.deepStrictEqual(lines, [
      { level: "Error", namespace: "Connection", message: "Connection error", broker: "b1:9092", error: "ECONNREFUSED" }
    ])
  })
})
