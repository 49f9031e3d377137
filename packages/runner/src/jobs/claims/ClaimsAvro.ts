/**
 * The claims topics in Avro (`--value-format avro`): payment events are read
 * and written with `payment.avsc`, the enrich job's outputs
 * (enriched-payments and failed-payments, one shape with its
 * `enrichment_status`) and the large claims with `enriched-payment.avsc`,
 * all from `@sluice/kafka`'s schema folder. Values are in the Confluent wire
 * format, with each topic's schema under `<topic>-value` in the registry
 * (TopicNameStrategy); amounts are Avro decimals (bytes, precision 10, scale
 * 2) and times `timestamp-millis`, so no amount goes through a float.
 *
 * Decoding applies the rules of the JSON decoders on top of the schema: ids
 * are non-empty and amounts follow `Money` (an Avro decimal can be negative),
 * so an Avro record the JSON job would refuse is a dead letter here too. A
 * record that is not in the wire format, names a schema id the registry does
 * not know, or does not match its schema is a dead letter with that reason.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { AvroSerde, KafkaError, SchemaRegistry, type Serde, SerdePipeline } from "@sluice/kafka"
import { type BigDecimal, type Config, Effect, Result, Schema } from "effect"
import { RunnerError, Startup } from "../../RunnerError.ts"
import { type EnrichedPayment, EnrichmentStatus } from "./EnrichedPayment.ts"
import type * as EnrichJob from "./EnrichJob.ts"
import type * as Generator from "./Generator.ts"
import type * as LargeClaimsJob from "./LargeClaimsJob.ts"
import * as Money from "./Money.ts"
import * as PaymentEvent from "./PaymentEvent.ts"
import type * as ReplayJob from "./ReplayJob.ts"

const schemaFolder = join(dirname(createRequire(import.meta.url).resolve("@sluice/kafka")), "..", "schemas")

/**
 * The text of one of `@sluice/kafka`'s Avro schemas, e.g. `payment.avsc`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const schemaText = (file: string): string => readFileSync(join(schemaFolder, file), "utf8")

// The values the Avro serde reads and writes: decimals as `BigDecimal`,
// times as `DateTime.Utc`, absent optional fields as `null`.
const AvroPayment = Schema.Struct({
  payment_id: Schema.String,
  claim_id: Schema.String,
  payment_amount: Schema.BigDecimal,
  payment_date: Schema.DateTimeUtc,
  processor_id: Schema.String,
  payment_method: Schema.NullOr(Schema.String),
  payment_status: Schema.NullOr(Schema.String)
})

const AvroEnrichedPayment = Schema.Struct({
  ...AvroPayment.fields,
  member_id: Schema.NullOr(Schema.String),
  claim_amount: Schema.NullOr(Schema.BigDecimal),
  claim_status: Schema.NullOr(Schema.String),
  enrichment_status: EnrichmentStatus,
  enrichment_timestamp: Schema.DateTimeUtc,
  error_reason: Schema.NullOr(Schema.String)
})

type AvroPayment = typeof AvroPayment.Type
type AvroEnrichedPayment = typeof AvroEnrichedPayment.Type

// The JSON rules the schema cannot state: an error names the field, like the JSON decoder's.
const amount = (
  field: string,
  value: BigDecimal.BigDecimal
): Effect.Effect<BigDecimal.BigDecimal, KafkaError.KafkaError> => {
  const checked = Money.parse(Money.format(value))
  return "amount" in checked
    ? Effect.succeed(checked.amount)
    : Effect.fail(KafkaError.decode(`${field}: amount ${checked.error}`))
}

const ids = (value: AvroPayment): Effect.Effect<void, KafkaError.KafkaError> => {
  for (const field of ["payment_id", "claim_id", "processor_id"] as const) {
    if (value[field] === "")
      return Effect.fail(KafkaError.decode(`${field}: Expected a value with a length of at least 1, got ""`))
  }
  return Effect.void
}

const fromAvroPayment = (value: AvroPayment): Effect.Effect<PaymentEvent.PaymentEvent, KafkaError.KafkaError> =>
  Effect.andThen(ids(value), () =>
    Effect.map(amount("payment_amount", value.payment_amount), (payment_amount) => {
      const event: { -readonly [K in keyof PaymentEvent.PaymentEvent]: PaymentEvent.PaymentEvent[K] } = {
        payment_id: value.payment_id,
        claim_id: value.claim_id,
        payment_amount,
        payment_date: value.payment_date,
        processor_id: value.processor_id
      }
      if (value.payment_method !== null) event.payment_method = value.payment_method
      if (value.payment_status !== null) event.payment_status = value.payment_status
      return event
    })
  )

const toAvroPayment = (event: PaymentEvent.PaymentEvent): AvroPayment => ({
  payment_id: event.payment_id,
  claim_id: event.claim_id,
  payment_amount: event.payment_amount,
  payment_date: event.payment_date,
  processor_id: event.processor_id,
  payment_method: event.payment_method ?? null,
  payment_status: event.payment_status ?? null
})

const fromAvroEnriched = (value: AvroEnrichedPayment): Effect.Effect<EnrichedPayment, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const event = yield* fromAvroPayment(value)
    const claim_amount = value.claim_amount === null ? null : yield* amount("claim_amount", value.claim_amount)
    return {
      ...event,
      member_id: value.member_id,
      claim_amount,
      claim_status: value.claim_status,
      enrichment_status: value.enrichment_status,
      enrichment_timestamp: value.enrichment_timestamp,
      error_reason: value.error_reason
    }
  })

const toAvroEnriched = (payment: EnrichedPayment): AvroEnrichedPayment => ({
  ...toAvroPayment(payment),
  member_id: payment.member_id,
  claim_amount: payment.claim_amount,
  claim_status: payment.claim_status,
  enrichment_status: payment.enrichment_status,
  enrichment_timestamp: payment.enrichment_timestamp,
  error_reason: payment.error_reason
})

/**
 * The serde of payment events on `topic` (`payment.avsc`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const payments = (
  topic: string
): Effect.Effect<Serde.Serde<PaymentEvent.PaymentEvent>, KafkaError.KafkaError, SchemaRegistry.SchemaRegistry> =>
  Effect.map(
    AvroSerde.make({ topic, schema: schemaText("payment.avsc"), codec: AvroPayment }),
    (serde): Serde.Serde<PaymentEvent.PaymentEvent> => ({
      decode: (bytes) => Effect.flatMap(serde.decode(bytes), fromAvroPayment),
      encode: (event) => serde.encode(toAvroPayment(event))
    })
  )

/**
 * The serde of enriched (or failed, or large) payments on `topic` (`enriched-payment.avsc`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const enrichedPayments = (
  topic: string
): Effect.Effect<Serde.Serde<EnrichedPayment>, KafkaError.KafkaError, SchemaRegistry.SchemaRegistry> =>
  Effect.map(
    AvroSerde.make({ topic, schema: schemaText("enriched-payment.avsc"), codec: AvroEnrichedPayment }),
    (serde): Serde.Serde<EnrichedPayment> => ({
      decode: (bytes) => Effect.flatMap(serde.decode(bytes), fromAvroEnriched),
      encode: (payment) => serde.encode(toAvroEnriched(payment))
    })
  )

const startup = (detail: string, settings: string) => new RunnerError({ reason: new Startup({ detail, settings }) })

const registrySettings = "SCHEMA_REGISTRY_URL and the SCHEMA_REGISTRY_* settings"

/**
 * A client of the registry the environment names (`SCHEMA_REGISTRY_URL`,
 * with basic auth from `SCHEMA_REGISTRY_USERNAME` and
 * `SCHEMA_REGISTRY_PASSWORD` or `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`),
 * checked once at start: a missing setting or a registry that does not
 * answer fails the command with one line, before anything is created.
 *
 * @since 0.1.0
 * @category constructors
 */
export const registryFromEnv: Effect.Effect<SchemaRegistry.SchemaRegistry["Service"], RunnerError> = Effect.gen(
  function* () {
    const options = yield* SchemaRegistry.config.pipe(
      Effect.mapError((error: Config.ConfigError) =>
        startup(
          `VALUE_FORMAT is avro but the registry settings are missing or invalid: ${error.message.replace(/\s*\n\s*/g, " ")}`,
          registrySettings
        )
      )
    )
    return yield* checkedRegistry(options)
  }
)

/**
 * A client of the registry at `options.url`, checked once (it lists the
 * subjects): an answer that is not a list fails with one line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const checkedRegistry = (
  options: SchemaRegistry.Options
): Effect.Effect<SchemaRegistry.SchemaRegistry["Service"], RunnerError> =>
  Effect.gen(function* () {
    const registry = yield* SchemaRegistry.make(options)
    yield* registry.subjects.pipe(
      Effect.mapError((error) =>
        startup(`the schema registry at ${registry.url} does not answer: ${error.message}`, registrySettings)
      )
    )
    return registry
  })

/**
 * The enrich job's codec for Avro topics: payment events from `topics.input`,
 * each output with the schema of its own topic.
 *
 * @since 0.1.0
 * @category constructors
 */
export const enrichCodec = (
  topics: { readonly input: string; readonly enriched: string; readonly failed: string },
  registry: SchemaRegistry.SchemaRegistry["Service"]
): Effect.Effect<EnrichJob.Codec<KafkaError.KafkaError>, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const input = yield* payments(topics.input)
    const enriched = yield* enrichedPayments(topics.enriched)
    const failed = yield* enrichedPayments(topics.failed)
    const codec: EnrichJob.Codec<KafkaError.KafkaError> = {
      decode: SerdePipeline.decode(input),
      encode: (output, payment) => (output === "enriched" ? enriched : failed).encode(payment)
    }
    return codec
  }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))

/**
 * The large-claims job's codec for Avro topics: enriched payments from
 * `topics.enriched`, large ones written with the schema of `topics.largeClaims`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const largeCodec = (
  topics: { readonly enriched: string; readonly largeClaims: string },
  registry: SchemaRegistry.SchemaRegistry["Service"]
): Effect.Effect<LargeClaimsJob.Codec<KafkaError.KafkaError>, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const input = yield* enrichedPayments(topics.enriched)
    const large = yield* enrichedPayments(topics.largeClaims)
    return { decode: SerdePipeline.decode(input), encode: large.encode }
  }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))

/**
 * The generator's records for an Avro topic: a payment event is written
 * with `serde`; a malformed record keeps its bytes, which are not in the
 * wire format either, so it stays a dead letter for the Avro job too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generatedRecord =
  (serde: Serde.Serde<PaymentEvent.PaymentEvent>) =>
  <R extends Generator.GeneratedRecord>(record: R): Effect.Effect<R, KafkaError.KafkaError> => {
    const event = PaymentEvent.decode(record.value)
    return Result.isSuccess(event)
      ? Effect.map(serde.encode(event.success), (value) => ({ ...record, value }))
      : Effect.succeed(record)
  }

/**
 * The replay's codec for Avro topics: failed payments from `topics.failed`,
 * outputs as the enrich job writes them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const replayCodec = (
  topics: { readonly enriched: string; readonly failed: string },
  registry: SchemaRegistry.SchemaRegistry["Service"]
): Effect.Effect<ReplayJob.Codec<KafkaError.KafkaError>, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const enriched = yield* enrichedPayments(topics.enriched)
    const failed = yield* enrichedPayments(topics.failed)
    const codec: ReplayJob.Codec<KafkaError.KafkaError> = {
      decode: SerdePipeline.decode(failed),
      encode: (output, payment) => (output === "enriched" ? enriched : failed).encode(payment)
    }
    return codec
  }).pipe(Effect.provideService(SchemaRegistry.SchemaRegistry, registry))
