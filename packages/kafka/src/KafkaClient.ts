/**
 * The Kafka client service. It owns one client instance (kafkajs by default,
 * any `KafkaLike.Kafka` with `fromKafka`), probes the cluster when it starts
 * by connecting an admin client, and hands out producers and consumers whose
 * connect is bounded by a timeout and whose disconnect runs, bounded too,
 * when their scope closes.
 *
 * Connection settings come from options or from the environment
 * (`layerConfig`): `KAFKA_BOOTSTRAP_SERVERS` and the `KAFKA_*` variables
 * listed on `config`.
 *
 * @since 0.1.0
 */

import type { LogLevel, Scope } from "effect"
import { Config, Context, Duration, Effect, Layer, Option, type Redacted, Schema, SchemaIssue } from "effect"
import * as Kafkajs from "./internal/kafkajs.ts"
import * as KafkaError from "./KafkaError.ts"
import type * as KafkaLike from "./KafkaLike.ts"

/**
 * TLS settings; certificates and the CA are PEM text.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  readonly ca?: string | ReadonlyArray<string>
  readonly cert?: string
  readonly key?: Redacted.Redacted<string>
  /** Defaults to `true`; turn it off only against test brokers. */
  readonly rejectUnauthorized?: boolean
  readonly servername?: string
}

/**
 * SASL mechanisms Sluice supports.
 *
 * @since 0.1.0
 * @category models
 */
export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512"

/**
 * SASL credentials. The password stays `Redacted` until it is handed to the
 * client library, so it never shows up in logs or error messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface SaslOptions {
  readonly mechanism: SaslMechanism
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `host:port` of at least one broker. */
  readonly brokers: ReadonlyArray<string>
  /** Defaults to `sluice`. */
  readonly clientId?: string
  /** `true` for TLS with the system's CAs. Defaults to plain TCP. */
  readonly tls?: boolean | TlsOptions
  readonly sasl?: SaslOptions
  /** Bounds every connect (the start-up probe, producers, consumers). Defaults to 10 seconds. */
  readonly connectTimeout?: Duration.Input
  /** Bounds every disconnect on release. Defaults to 5 seconds. */
  readonly disconnectTimeout?: Duration.Input
  /** How long the client library waits for a broker's answer. Defaults to 30 seconds. */
  readonly requestTimeout?: Duration.Input
  /**
   * Retries the client library makes on its own before an operation fails.
   * Sluice's `Policy` retries on top of these, so keep them short.
   */
  readonly retry?: KafkaLike.RetryConfig
  /** The least severe client-library log line passed to the Effect logger. Defaults to `Warn`. */
  readonly logLevel?: LogLevel.LogLevel
}

/**
 * @since 0.1.0
 * @category services
 */
export class KafkaClient extends Context.Service<
  KafkaClient,
  {
    readonly clientId: string
    readonly brokers: ReadonlyArray<string>
    /** The underlying client, for sources and sinks that need more than this service offers. */
    readonly kafka: KafkaLike.Kafka
    /** An admin client, connected for as long as the service lives. */
    readonly admin: KafkaLike.Admin
    /** A connected producer, disconnected when the scope closes. */
    readonly producer: (
      config?: KafkaLike.ProducerConfig
    ) => Effect.Effect<KafkaLike.Producer, KafkaError.KafkaError, Scope.Scope>
    /** A connected consumer, disconnected when the scope closes. */
    readonly consumer: (
      config: KafkaLike.ConsumerConfig
    ) => Effect.Effect<KafkaLike.Consumer, KafkaError.KafkaError, Scope.Scope>
  }
>()("@sluice/kafka/KafkaClient") {}

/**
 * What `fromKafka` needs besides the client itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromKafkaOptions {
  readonly clientId?: string
  readonly brokers?: ReadonlyArray<string>
  readonly connectTimeout?: Duration.Input
  readonly disconnectTimeout?: Duration.Input
}

interface Connectable {
  connect(): Promise<void>
  disconnect(): Promise<void>
}

/**
 * Connects `resource` within `connectTimeout` and disconnects it, within
 * `disconnectTimeout`, when the scope closes. A connect that times out is
 * also told to disconnect, so the client library stops retrying behind our back.
 */
const connected = <A extends Connectable>(
  operation: string,
  resource: A,
  connectTimeout: Duration.Duration,
  disconnectTimeout: Duration.Duration
): Effect.Effect<A, KafkaError.KafkaError, Scope.Scope> => {
  const disconnect = KafkaError.attempt(`${operation}.disconnect`, () => resource.disconnect()).pipe(
    Effect.timeoutOrElse({
      duration: disconnectTimeout,
      orElse: () => Effect.fail(KafkaError.timeout(`${operation}.disconnect`, Duration.toMillis(disconnectTimeout)))
    }),
    Effect.catch((error) => Effect.logWarning("Kafka disconnect failed", error.message))
  )
  return Effect.acquireRelease(
    KafkaError.attempt(`${operation}.connect`, () => resource.connect()).pipe(
      Effect.timeoutOrElse({
        duration: connectTimeout,
        orElse: () => Effect.fail(KafkaError.timeout(`${operation}.connect`, Duration.toMillis(connectTimeout)))
      }),
      Effect.onError(() => disconnect),
      Effect.as(resource)
    ),
    () => disconnect
  )
}

/**
 * Builds the service around any client that satisfies `KafkaLike.Kafka`:
 * test fakes, or another client library adapted to the interface. Fails
 * when the admin client cannot connect within the connect timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKafka = Effect.fnUntraced(function* (
  kafka: KafkaLike.Kafka,
  options: FromKafkaOptions = {}
): Effect.fn.Return<KafkaClient["Service"], KafkaError.KafkaError, Scope.Scope> {
  const connectTimeout = Duration.fromInputUnsafe(options.connectTimeout ?? "10 seconds")
  const disconnectTimeout = Duration.fromInputUnsafe(options.disconnectTimeout ?? "5 seconds")
  const admin = yield* connected("admin", kafka.admin(), connectTimeout, disconnectTimeout)
  return KafkaClient.of({
    clientId: options.clientId ?? "sluice",
    brokers: options.brokers ?? [],
    kafka,
    admin,
    producer: (config) =>
      Effect.suspend(() => connected("producer", kafka.producer(config), connectTimeout, disconnectTimeout)),
    consumer: (config) =>
      Effect.suspend(() => connected("consumer", kafka.consumer(config), connectTimeout, disconnectTimeout))
  })
})

// kafkajs lines an operator cannot act on go to Debug: the v2 partitioner
// notice every producer prints, "Topic creation errors" for topics that
// already exist (`Admin.ensureTopics` expects those), and connection errors
// while kafkajs retries, which end in a `KafkaError` of their own if the
// retries give up.
const severityOf = (line: Kafkajs.LogLine): LogLevel.Severity => {
  if (line.level !== "Error" && line.level !== "Warn") return line.level
  const m = line.message
  if (m.includes("switched default partitioner")) return "Debug"
  if (m.startsWith("Topic creation errors")) return "Debug"
  if ((line.namespace === "Connection" || line.namespace === "BrokerPool") && /connect|Connection error/i.test(m)) {
    return "Debug"
  }
  return line.level
}

/**
 * Builds the service on kafkajs. Client-library log lines go to the Effect
 * logger, annotated with their kafkajs namespace.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  options: Options
): Effect.fn.Return<KafkaClient["Service"], KafkaError.KafkaError, Scope.Scope> {
  const context = yield* Effect.context<never>()
  const clientId = options.clientId ?? "sluice"
  const settings: Kafkajs.Settings = {
    brokers: options.brokers,
    clientId,
    tls: options.tls ?? false,
    sasl: options.sasl,
    requestTimeout: Duration.fromInputUnsafe(options.requestTimeout ?? "30 seconds"),
    logLevel: options.logLevel ?? "Warn",
    retry: options.retry
  }
  // kafkajs logs from its own callbacks; each line becomes a short-lived fiber
  // so it reaches whatever logger the application installed.
  const log = (line: Kafkajs.LogLine) =>
    void Effect.runForkWith(context)(
      Effect.logWithLevel(severityOf(line))(line.message).pipe(
        Effect.annotateLogs({
          kafka: line.namespace,
          ...(line.broker === undefined ? {} : { broker: line.broker }),
          ...(line.error === undefined ? {} : { error: line.error })
        })
      )
    )
  const kafka = yield* Effect.try({
    try: () => Kafkajs.make(settings, log),
    catch: (error) => KafkaError.fromUnknown("configure", error)
  })
  return yield* fromKafka(kafka, {
    clientId,
    brokers: options.brokers,
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
    ...(options.disconnectTimeout === undefined ? {} : { disconnectTimeout: options.disconnectTimeout })
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<KafkaClient, KafkaError.KafkaError> =>
  Layer.effect(KafkaClient, make(options))

/**
 * The service around a given client, typically a test fake.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromKafka = (
  kafka: KafkaLike.Kafka,
  options?: FromKafkaOptions
): Layer.Layer<KafkaClient, KafkaError.KafkaError> => Layer.effect(KafkaClient, fromKafka(kafka, options))

const invalid = (variable: string, message: string): Config.Config<never> =>
  Config.fail(new Schema.SchemaError(new SchemaIssue.Pointer([variable], new SchemaIssue.InvalidValue({ message }))))

const brokerAddress = /^[^\s:,]+:\d{1,5}$/

const brokers: Config.Config<ReadonlyArray<string>> = Config.String("KAFKA_BOOTSTRAP_SERVERS").pipe(
  Config.flatMap((raw) => {
    const list = raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
    const bad = list.find((s) => !brokerAddress.test(s) || Number(s.slice(s.lastIndexOf(":") + 1)) > 65535)
    if (list.length === 0) return invalid("KAFKA_BOOTSTRAP_SERVERS", "Expected at least one host:port")
    if (bad !== undefined) return invalid("KAFKA_BOOTSTRAP_SERVERS", `Expected host:port, got "${bad}"`)
    return Config.succeed(list)
  })
)

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

const tls: Config.Config<boolean | TlsOptions> = Config.all({
  enabled: optional(Config.Boolean("KAFKA_TLS")),
  ca: optional(Config.String("KAFKA_TLS_CA")),
  cert: optional(Config.String("KAFKA_TLS_CERT")),
  key: optional(Config.Redacted("KAFKA_TLS_KEY")),
  rejectUnauthorized: optional(Config.Boolean("KAFKA_TLS_REJECT_UNAUTHORIZED")),
  servername: optional(Config.String("KAFKA_TLS_SERVERNAME"))
}).pipe(
  Config.flatMap(({ enabled, ...rest }): Config.Config<boolean | TlsOptions> => {
    const material = Object.entries(rest).find(([, value]) => value !== undefined)
    if (material === undefined) return Config.succeed(enabled ?? false)
    if (enabled === false) {
      const variable = `KAFKA_TLS_${material[0] === "rejectUnauthorized" ? "REJECT_UNAUTHORIZED" : material[0].toUpperCase()}`
      return invalid("KAFKA_TLS", `TLS is turned off, but ${variable} is set`)
    }
    const options: TlsOptions = {
      ...(rest.ca === undefined ? {} : { ca: rest.ca }),
      ...(rest.cert === undefined ? {} : { cert: rest.cert }),
      ...(rest.key === undefined ? {} : { key: rest.key }),
      ...(rest.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: rest.rejectUnauthorized }),
      ...(rest.servername === undefined ? {} : { servername: rest.servername })
    }
    return Config.succeed(options)
  })
)

const mechanisms: ReadonlyArray<SaslMechanism> = ["plain", "scram-sha-256", "scram-sha-512"]

const sasl: Config.Config<SaslOptions | undefined> = Config.all({
  mechanism: optional(Config.String("KAFKA_SASL_MECHANISM")),
  username: optional(Config.String("KAFKA_SASL_USERNAME")),
  password: optional(Config.Redacted("KAFKA_SASL_PASSWORD"))
}).pipe(
  Config.flatMap(({ mechanism, username, password }): Config.Config<SaslOptions | undefined> => {
    if (mechanism === undefined) {
      if (username !== undefined)
        return invalid("KAFKA_SASL_MECHANISM", "Expected a mechanism, as KAFKA_SASL_USERNAME is set")
      return Config.succeed(undefined)
    }
    // Kafka documentation spells mechanisms in capitals (SCRAM-SHA-512).
    const normalized = mechanisms.find((m) => m === mechanism.toLowerCase())
    if (normalized === undefined) {
      return invalid("KAFKA_SASL_MECHANISM", `Expected one of ${mechanisms.join(", ")}, got "${mechanism}"`)
    }
    if (username === undefined) return invalid("KAFKA_SASL_USERNAME", `Expected a user name for SASL ${normalized}`)
    if (password === undefined) return invalid("KAFKA_SASL_PASSWORD", `Expected a password for SASL ${normalized}`)
    return Config.succeed({ mechanism: normalized, username, password })
  })
)

/**
 * How to connect, read from the environment, without the brokers and the
 * client id (which an application may take from settings of its own):
 *
 * - `KAFKA_TLS`: `true`/`false`; TLS is on by default when one of the TLS
 *   variables below is set. `KAFKA_TLS_CA`, `KAFKA_TLS_CERT` (PEM text),
 *   `KAFKA_TLS_KEY` (PEM text, redacted), `KAFKA_TLS_REJECT_UNAUTHORIZED`,
 *   `KAFKA_TLS_SERVERNAME`.
 * - `KAFKA_SASL_MECHANISM` (`plain`, `scram-sha-256`, `scram-sha-512`, any
 *   case), `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` (redacted).
 * - `KAFKA_CONNECT_TIMEOUT`, `KAFKA_REQUEST_TIMEOUT`: durations such as `10 seconds`.
 *
 * A bad value fails with a `ConfigError` that names the variable.
 *
 * @since 0.1.0
 * @category config
 */
export const connectionConfig: Config.Config<Omit<Options, "brokers" | "clientId">> = Config.all({
  tls,
  sasl,
  connectTimeout: optional(Config.Duration("KAFKA_CONNECT_TIMEOUT")),
  requestTimeout: optional(Config.Duration("KAFKA_REQUEST_TIMEOUT"))
}).pipe(
  Config.map(({ tls, sasl, connectTimeout, requestTimeout }) => ({
    tls,
    ...(sasl === undefined ? {} : { sasl }),
    ...(connectTimeout === undefined ? {} : { connectTimeout }),
    ...(requestTimeout === undefined ? {} : { requestTimeout })
  }))
)

/**
 * The client options read from the environment: `KAFKA_BOOTSTRAP_SERVERS`
 * (required, a comma-separated `host:port` list), `KAFKA_CLIENT_ID`
 * (defaults to `sluice`) and the variables of `connectionConfig`.
 *
 * A bad value fails with a `ConfigError` that names the variable.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  brokers,
  clientId: Config.String("KAFKA_CLIENT_ID").pipe(Config.withDefault("sluice")),
  connection: connectionConfig
}).pipe(Config.map(({ brokers, clientId, connection }): Options => ({ brokers, clientId, ...connection })))

/**
 * The service configured from `config` (the environment, by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<KafkaClient, KafkaError.KafkaError | Config.ConfigError> =>
  Layer.effect(KafkaClient, Effect.flatMap(options, make))
