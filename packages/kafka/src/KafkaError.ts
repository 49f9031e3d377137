/**
 * The one error type of `@sluice/kafka`. Its `reason` says what went wrong
 * (connection, timeout, authentication, a broker error code, exhausted client
 * retries, a record that cannot be decoded or encoded), and `isRetryable`
 * tells a `Policy` whether trying again may help.
 *
 * Errors from the client library are turned into a `KafkaError` by one
 * classifier, `fromUnknown`, which reads the `name`, `retriable`, `type` and
 * `code` fields that kafkajs errors carry.
 *
 * @since 0.1.0
 */
import type { PolicyError } from "@sluice/core"
import { Effect, Schema } from "effect"

/**
 * No connection to a broker could be made, or it was lost.
 *
 * @since 0.1.0
 * @category errors
 */
export class Connection extends Schema.TaggedClass<Connection>()("Connection", {
  broker: Schema.optionalKey(Schema.String),
  /** The system error code, such as `ECONNREFUSED`, when there is one. */
  code: Schema.optionalKey(Schema.String)
}) {}

/**
 * The operation did not finish in time.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Schema.TaggedClass<Timeout>()("Timeout", {
  timeoutMillis: Schema.optionalKey(Schema.Number)
}) {}

/**
 * The broker rejected the credentials.
 *
 * @since 0.1.0
 * @category errors
 */
export class Authentication extends Schema.TaggedClass<Authentication>()("Authentication", {}) {}

/**
 * The broker answered with a Kafka error code, such as
 * `UNKNOWN_TOPIC_OR_PARTITION` or `TOPIC_AUTHORIZATION_FAILED`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Protocol extends Schema.TaggedClass<Protocol>()("Protocol", {
  type: Schema.String,
  code: Schema.Number,
  retryable: Schema.Boolean
}) {}

/**
 * The client library retried on its own and gave up. Whether more attempts
 * can help depends on the last failure, which `last` describes.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetriesExhausted extends Schema.TaggedClass<RetriesExhausted>()("RetriesExhausted", {
  retryCount: Schema.Number,
  last: Schema.String,
  retryable: Schema.Boolean
}) {}

/**
 * A record could not be decoded; `detail` says why in one line, fit for a
 * dead letter's reason header.
 *
 * @since 0.1.0
 * @category errors
 */
export class Decode extends Schema.TaggedClass<Decode>()("Decode", {
  detail: Schema.String
}) {}

/**
 * A value could not be encoded into a record.
 *
 * @since 0.1.0
 * @category errors
 */
export class Encode extends Schema.TaggedClass<Encode>()("Encode", {
  detail: Schema.String
}) {}

/**
 * Any other failure of the client library.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unknown extends Schema.TaggedClass<Unknown>()("Unknown", {
  retryable: Schema.Boolean
}) {}

/**
 * What went wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export type KafkaErrorReason =
  | Connection
  | Timeout
  | Authentication
  | Protocol
  | RetriesExhausted
  | Decode
  | Encode
  | Unknown

const describe = (reason: KafkaErrorReason): string => {
  switch (reason._tag) {
    case "Connection":
      return `cannot reach broker${reason.broker === undefined ? "" : ` ${reason.broker}`}${reason.code === undefined ? "" : ` (${reason.code})`}`
    case "Timeout":
      return reason.timeoutMillis === undefined ? "timed out" : `timed out after ${reason.timeoutMillis} ms`
    case "Authentication":
      return "authentication failed"
    case "Protocol":
      return `broker error ${reason.type} (${reason.code})`
    case "RetriesExhausted":
      return `gave up after ${reason.retryCount} retries: ${reason.last}`
    case "Decode":
      return `cannot decode record: ${reason.detail}`
    case "Encode":
      return `cannot encode record: ${reason.detail}`
    case "Unknown":
      return "client failure"
  }
}

const retryable = (reason: KafkaErrorReason): boolean => {
  switch (reason._tag) {
    case "Connection":
    case "Timeout":
      return true
    case "Protocol":
    case "RetriesExhausted":
    case "Unknown":
      return reason.retryable
    case "Authentication":
    case "Decode":
    case "Encode":
      return false
  }
}

/**
 * A failed Kafka operation. `operation` names what was attempted (`connect`,
 * `send`, `createTopics`, `decode`...), `cause` keeps the original error.
 *
 * @since 0.1.0
 * @category errors
 */
export class KafkaError
  extends Schema.TaggedError<KafkaError>()("KafkaError", {
    operation: Schema.String,
    reason: Schema.Union([Connection, Timeout, Authentication, Protocol, RetriesExhausted, Decode, Encode, Unknown]),
    cause: Schema.optionalKey(Schema.Defect())
  })
  implements PolicyError.Retryable
{
  /** Whether the same operation may succeed if tried again. */
  get isRetryable(): boolean {
    return retryable(this.reason)
  }

  override get message(): string {
    const detail = this.cause instanceof Error && this.reason._tag === "Unknown" ? `: ${this.cause.message}` : ""
    return `${this.operation}: ${describe(this.reason)}${detail}`
  }
}

const field = (error: object, name: string): unknown =>
  name in error ? (error as Record<string, unknown>)[name] : undefined

const stringField = (error: object, name: string): string | undefined => {
  const value = field(error, name)
  return typeof value === "string" ? value : undefined
}

const classify = (error: unknown): KafkaErrorReason => {
  if (typeof error !== "object" || error === null) return new Unknown({ retryable: false })
  const name = stringField(error, "name") ?? ""
  const errors = field(error, "errors")
  // kafkajs gathers per-topic failures of one request; the first one stands for all.
  if (name === "KafkaJSAggregateError" && Array.isArray(errors) && errors.length > 0) return classify(errors[0])
  const retriable = field(error, "retriable")
  const type = stringField(error, "type")
  const code = field(error, "code")
  if (name === "KafkaJSNumberOfRetriesExceeded") {
    const last = field(error, "cause")
    const retryCount = field(error, "retryCount")
    return new RetriesExhausted({
      retryCount: typeof retryCount === "number" ? retryCount : 0,
      last: last instanceof Error ? last.message : String(last),
      // kafkajs marks this error itself as final; what matters to a caller's
      // own schedule is whether the condition behind it was transient.
      retryable: last !== undefined && typeof last === "object" && last !== null && field(last, "retriable") === true
    })
  }
  if (name === "KafkaJSNonRetriableError") {
    // kafkajs' retrier wraps an error it will not retry itself, a refused
    // connection to a broker being restarted among them. To a caller's own
    // schedule an unreachable broker is still transient, so the wrapped
    // connection error decides; anything else stays final.
    const cause = field(error, "cause")
    const inner = cause === undefined ? undefined : classify(cause)
    if (inner?._tag === "Connection") return inner
  }
  if (name === "KafkaJSSASLAuthenticationError" || type === "SASL_AUTHENTICATION_FAILED") return new Authentication()
  if (type !== undefined && typeof code === "number") {
    return new Protocol({ type, code, retryable: retriable === true })
  }
  if (name === "KafkaJSConnectionError" || name === "KafkaJSConnectionClosedError") {
    const broker = stringField(error, "broker")
    const systemCode = typeof code === "string" ? code : undefined
    return new Connection({
      ...(broker === undefined ? {} : { broker }),
      ...(systemCode === undefined ? {} : { code: systemCode })
    })
  }
  if (name === "KafkaJSBrokerNotFound" || name === "KafkaJSNoBrokerAvailableError") return new Connection({})
  if (name === "KafkaJSRequestTimeoutError" || name === "KafkaJSTimeout") return new Timeout({})
  if (typeof code === "string" && /^(ECONN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE)/.test(code)) {
    return new Connection({ code })
  }
  return new Unknown({ retryable: retriable === true })
}

/**
 * Classifies any error thrown by the client library during `operation`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUnknown = (operation: string, error: unknown): KafkaError =>
  error instanceof KafkaError ? error : new KafkaError({ operation, reason: classify(error), cause: error })

/**
 * A decode failure with a one-line reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (detail: string, cause?: unknown): KafkaError =>
  new KafkaError({ operation: "decode", reason: new Decode({ detail }), ...(cause === undefined ? {} : { cause }) })

/**
 * An encode failure with a one-line reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const encode = (detail: string, cause?: unknown): KafkaError =>
  new KafkaError({ operation: "encode", reason: new Encode({ detail }), ...(cause === undefined ? {} : { cause }) })

/**
 * An operation that did not finish within `timeoutMillis`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const timeout = (operation: string, timeoutMillis: number): KafkaError =>
  new KafkaError({ operation, reason: new Timeout({ timeoutMillis }) })

/**
 * Runs a call of the client library, classifying whatever it rejects with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attempt = <A>(operation: string, call: () => Promise<A>): Effect.Effect<A, KafkaError> =>
  Effect.tryPromise({ try: call, catch: (error) => fromUnknown(operation, error) })

// Kafka's answers to a producer whose transactional id was registered again
// (a newer epoch): INVALID_PRODUCER_EPOCH (47) and, from brokers that know
// it, PRODUCER_FENCED (90), which kafkajs 2.2.4 does not name (its type is
// then KAFKAJS_UNKNOWN_ERROR_CODE and its message "Unknown error code 90").
const fencedTypes = new Set(["INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED"])
const fencedCodes = new Set([47, 90])

const fencedCause = (error: unknown, depth: number): boolean => {
  if (typeof error !== "object" || error === null || depth > 4) return false
  const type = field(error, "type")
  const code = field(error, "code")
  if (typeof type === "string" && fencedTypes.has(type)) return true
  if (typeof code === "number" && fencedCodes.has(code)) return true
  const message = field(error, "message")
  if (typeof message === "string" && /\bUnknown error code 90\b/.test(message)) return true
  // kafkajs wraps what it does not retry (`cause`) and gathers per-partition failures (`errors`).
  const errors = field(error, "errors")
  if (Array.isArray(errors) && errors.some((e) => fencedCause(e, depth + 1))) return true
  return fencedCause(field(error, "cause"), depth + 1)
}

/**
 * Whether the broker refused a transactional producer because another one
 * registered its transactional id since (it is fenced: nothing it sends or
 * commits can be accepted any more).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFenced = (error: KafkaError): boolean =>
  (error.reason._tag === "Protocol" && (fencedTypes.has(error.reason.type) || fencedCodes.has(error.reason.code))) ||
  fencedCause(error.cause, 0)
