/**
 * How `sluice cdc route` writes what it routes (`--route-format`):
 *
 * - `json` (the default): a routed output is the change event as JSON, plus
 *   `filterMetadata`; an unmatched record goes to the default topic as it
 *   was read. That path stays in `Routing` and needs no encoder.
 * - `avro`: the seed's schemas from `@sluice/kafka`'s schema folder, in the
 *   Confluent wire format, each topic's schema under `<topic>-value`
 *   (TopicNameStrategy), registered on first use: a routed output is a
 *   `FilteredEvent` (`filtered-event.avsc`), an unmatched record on the
 *   default topic a `RawEvent` (`raw-event.avsc`), so a consumer of any of
 *   the router's topics decodes by schema id.
 *
 * Both schemas hold the business event, not the Debezium envelope: the row
 * (`after`, or `before` for a delete) maps `id`, `event_name`, `event_type`,
 * `entity_type`, `entity_id`, `created_at` and `updated_at` to the camel-case
 * fields, with times read as Debezium writes them (ISO text for `timestamp
 * with time zone`, epoch microseconds for `timestamp`), and
 * `updated_attributes` flattened to the schema's `MAP<STRING, STRING>` as the
 * flat model does (a flat rule's map is taken as it is). `filterMetadata`
 * names the rule, the target topic, when it matched and the version of the
 * rule file (0 as started, then one more per reload).
 *
 * A record an output of which does not fit its schema (an entity-table row
 * has no event name; a projection left a required field out) is not written
 * anywhere but to the dead-letter topic, with the schema's one-line reason.
 * A registry that cannot be reached or refuses the schema fails the job
 * instead: dead-lettering readable records would lose them.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import type { Envelope } from "@sluice/core"
import { AvroSerde, type KafkaError, SchemaRegistry, Serde } from "@sluice/kafka"
import { Flatten, type Router } from "@sluice/rules"
import { type Config, DateTime, Effect, Option, Result, Schema } from "effect"
import { RunnerError, Startup } from "../../RunnerError.ts"

const schemaFolder = join(dirname(createRequire(import.meta.url).resolve("@sluice/kafka")), "..", "schemas")

const schemaText = (file: string): string => readFileSync(join(schemaFolder, file), "utf8")

/**
 * A `RawEvent` as the Avro serde reads and writes it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RawEvent = Schema.Struct({
  id: Schema.String,
  eventName: Schema.String,
  eventType: Schema.String,
  entityType: Schema.String,
  entityId: Schema.String,
  createdAt: Schema.NullOr(Schema.DateTimeUtc),
  updatedAt: Schema.NullOr(Schema.DateTimeUtc),
  updatedAttributes: Schema.Record(Schema.String, Schema.String)
})

/**
 * A `FilteredEvent`: a `RawEvent` plus what routed it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FilteredEvent = Schema.Struct({
  ...RawEvent.fields,
  filterMetadata: Schema.Struct({
    ruleName: Schema.String,
    targetTopic: Schema.String,
    filteredAt: Schema.DateTimeUtc,
    ruleVersion: Schema.NullOr(Schema.String)
  })
})

/**
 * @since 0.1.0
 * @category models
 */
export type RawEvent = typeof RawEvent.Type

/**
 * @since 0.1.0
 * @category models
 */
export type FilteredEvent = typeof FilteredEvent.Type

/**
 * The encoded value of one output, or why its record goes to the dead-letter topic.
 *
 * @since 0.1.0
 * @category models
 */
export type Encoded = Result.Result<Envelope.Payload, string>

/**
 * Encodes the router's outputs in a format other than its JSON.
 *
 * @since 0.1.0
 * @category models
 */
export interface Encoder {
  /** A routed output, under rule file `version`. */
  readonly routed: (output: Router.Output, version: number) => Effect.Effect<Encoded, KafkaError.KafkaError>
  /** A record no rule matched, for the default `topic`. */
  readonly unmatched: (topic: string, record: Router.Record) => Effect.Effect<Encoded, KafkaError.KafkaError>
}

const timestamp = (value: unknown): unknown => {
  if (value === null || value === undefined) return null
  // io.debezium.time.ZonedTimestamp; text that is no time is left for the schema to name
  if (typeof value === "string") return Option.getOrElse(DateTime.make(value), () => value)
  // io.debezium.time.MicroTimestamp
  if (typeof value === "number" && Number.isFinite(value)) return DateTime.makeUnsafe(Math.floor(value / 1000))
  return value
}

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  value !== null && typeof value === "object" && !Array.isArray(value)

// The schemas' string fields and the columns of `business_events` they come from.
const identityColumns = [
  ["id", "id"],
  ["eventName", "event_name"],
  ["eventType", "event_type"],
  ["entityType", "entity_type"],
  ["entityId", "entity_id"]
] as const

/**
 * The business event of a routed value (the change event, possibly projected):
 * the fields of `RawEvent`, not yet checked.
 *
 * @since 0.1.0
 * @category encoding
 */
export const businessEvent = (value: Router.Record): Record<string, unknown> => {
  const row = isObject(value.after) ? value.after : isObject(value.before) ? value.before : {}
  const attributes = row.updated_attributes
  const out: Record<string, unknown> = {
    createdAt: timestamp(row.created_at),
    updatedAt: timestamp(row.updated_at),
    updatedAttributes: attributes === undefined || attributes === null ? {} : Flatten.flatten(attributes)
  }
  // A column the row lacks is left out, so the schema's reason says "Missing key".
  for (const [field, column] of identityColumns) if (row[column] !== undefined) out[field] = row[column]
  return out
}

const decodeRaw = Schema.decodeUnknownResult(RawEvent)
const decodeFiltered = Schema.decodeUnknownResult(FilteredEvent)

// One serde per topic, made when the topic is first written (a reloaded file may name new topics).
const serdes = <A, I>(
  schema: string,
  codec: Schema.Codec<A, I>,
  registry: SchemaRegistry.SchemaRegistry["Service"]
): ((topic: string) => Effect.Effect<Serde.Serde<A>, KafkaError.KafkaError>) => {
  const made = new Map<string, Serde.Serde<A>>()
  return (topic) => {
    const known = made.get(topic)
    if (known !== undefined) return Effect.succeed(known)
    return AvroSerde.make({ topic, schema, codec }).pipe(
      Effect.provideService(SchemaRegistry.SchemaRegistry, registry),
      Effect.tap((serde) => Effect.sync(() => made.set(topic, serde)))
    )
  }
}

// A value the schema refuses is the record's reason for the dead-letter topic; any other failure is the job's.
const encodeWith = <A>(
  topic: string,
  serde: Serde.Serde<A>,
  checked: Result.Result<A, Schema.SchemaError>
): Effect.Effect<Encoded, KafkaError.KafkaError> =>
  Result.isFailure(checked)
    ? Effect.succeed(Result.fail(`${topic}: ${Serde.describeSchemaError(checked.failure)}`))
    : serde.encode(checked.success).pipe(
        Effect.map((bytes): Encoded => Result.succeed(bytes)),
        Effect.catchIf(
          (error) => error.reason._tag === "Encode",
          (error) =>
            Effect.succeed(
              Result.fail(`${topic}: ${error.reason._tag === "Encode" ? error.reason.detail : error.message}`)
            )
        )
      )

/**
 * The Avro encoder, writing through `registry`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const avro = (registry: SchemaRegistry.SchemaRegistry["Service"]): Encoder => {
  const filtered = serdes(schemaText("filtered-event.avsc"), FilteredEvent, registry)
  const raw = serdes(schemaText("raw-event.avsc"), RawEvent, registry)
  return {
    routed: (output, version) =>
      Effect.flatMap(filtered(output.topic), (serde) =>
        encodeWith(
          output.topic,
          serde,
          decodeFiltered({
            ...businessEvent(output.value),
            filterMetadata: {
              ruleName: output.rule,
              targetTopic: output.topic,
              filteredAt: DateTime.makeUnsafe(output.value.filterMetadata.matchedAt),
              ruleVersion: String(version)
            }
          })
        )
      ),
    unmatched: (topic, record) =>
      Effect.flatMap(raw(topic), (serde) => encodeWith(topic, serde, decodeRaw(businessEvent(record))))
  }
}

const registrySettings = "SCHEMA_REGISTRY_URL and the SCHEMA_REGISTRY_* settings"

const startup = (detail: string) => new RunnerError({ reason: new Startup({ detail, settings: registrySettings }) })

/**
 * A client of the registry the environment names (`SCHEMA_REGISTRY_URL` and
 * the `SCHEMA_REGISTRY_*` settings of `@sluice/kafka`'s `SchemaRegistry.config`),
 * checked once at start by listing its subjects: a missing setting or a
 * registry that does not answer fails the command with one line, before
 * anything connects to Kafka.
 *
 * @since 0.1.0
 * @category constructors
 */
export const registryFromEnv: Effect.Effect<SchemaRegistry.SchemaRegistry["Service"], RunnerError> = Effect.gen(
  function* () {
    const options = yield* SchemaRegistry.config.pipe(
      Effect.mapError((error: Config.ConfigError) =>
        startup(
          `CDC_ROUTE_FORMAT is avro but the registry settings are missing or invalid: ${error.message.replace(/\s*\n\s*/g, " ")}`
        )
      )
    )
    const registry = yield* SchemaRegistry.make(options)
    yield* registry.subjects.pipe(
      Effect.mapError((error) => startup(`the schema registry at ${registry.url} does not answer: ${error.message}`))
    )
    return registry
  }
)
