/**
 * Where the commerce results go (`--sink`, `COMMERCE_SINK`): PostgreSQL
 * tables through `PgUpsertSink` (the default) or DynamoDB tables through
 * `DynamoDbSink`, as the seed writes them. Both are upserts by the table's
 * key, so a replayed result rewrites the same row or item.
 *
 * In DynamoDB a table is `<TABLE_PREFIX>-<name with dashes>`
 * (`cdc-platform-realtime-sales-metrics`), keyed by the same column (a
 * string for `text` keys, a number otherwise); exact decimals are stored as
 * DynamoDB numbers from their decimal text, times as ISO 8601 strings, and a
 * null column is left out of the item.
 *
 * @since 0.3.0
 */
import type * as Envelope from "@sluice/core/Envelope"
import type * as PolicyError from "@sluice/core/PolicyError"
import { DynamoDbSink, PgUpsertSink, type SinkError } from "@sluice/sinks"
import { Config, DateTime, Effect, Option, Redacted, type Scope, type Sink } from "effect"
import type * as Readiness from "../../http/Readiness.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import type * as CommerceConfig from "./CommerceConfig.ts"
import * as Database from "./Database.ts"

/**
 * A sink of rows of one table.
 *
 * @since 0.3.0
 * @category models
 */
export type RowSink = Sink.Sink<
  void,
  Envelope.Envelope<PgUpsertSink.Row>,
  never,
  SinkError.SinkError | PolicyError.PolicyError
>

/**
 * The results' destination, opened for a command's scope.
 *
 * @since 0.3.0
 * @category models
 */
export interface Results {
  readonly kind: CommerceConfig.CommerceConfig["sink"]
  /** Creates the table if it is missing; the sink upserting its rows. */
  readonly table: (table: PgUpsertSink.Table) => Effect.Effect<RowSink, RunnerError>
}

/**
 * The DynamoDB name of a table, without the prefix: `realtime-sales-metrics`.
 *
 * @since 0.3.0
 * @category dynamodb
 */
export const dynamoName = (table: PgUpsertSink.Table): string => table.name.replaceAll("_", "-")

/**
 * The DynamoDB item of a row.
 *
 * @since 0.3.0
 * @category dynamodb
 */
export const toItem = (row: PgUpsertSink.Row): DynamoDbSink.Item => {
  const item: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(row)) {
    if (value === null || value === undefined) continue
    item[name] = DateTime.isDateTime(value) ? DateTime.formatIso(value) : value
  }
  return item
}

const startup = (detail: string, settings: string) => new RunnerError({ reason: new Startup({ detail, settings }) })

const postgres = (config: CommerceConfig.CommerceConfig, readiness?: Readiness.Readiness["Service"]) =>
  Effect.map(
    Database.open(config, readiness),
    (sql): Results => ({
      kind: "postgres",
      table: (table) =>
        PgUpsertSink.createTable(sql, table).pipe(
          Effect.mapError((error) => startup(error.message, "DATABASE_URL or --database-url")),
          Effect.as(PgUpsertSink.make(sql, table, (row: PgUpsertSink.Row) => row))
        )
    })
  )

const dynamodb = (config: CommerceConfig.CommerceConfig) =>
  Effect.gen(function* () {
    const keyId = yield* Config.option(Config.String("AWS_ACCESS_KEY_ID")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    return yield* DynamoDbSink.makeClient({
      region: config.dynamodb.region,
      tablePrefix: config.dynamodb.tablePrefix,
      ...Option.match(config.dynamodb.endpoint, { onNone: () => ({}), onSome: (endpoint) => ({ endpoint }) }),
      // DynamoDB Local and dynalite take any credentials, and the SDK's chain may find none.
      ...(Option.isSome(config.dynamodb.endpoint) && Option.isNone(keyId)
        ? { credentials: { accessKeyId: "local", secretAccessKey: Redacted.make("local") } }
        : {})
    })
  }).pipe(
    Effect.map(
      (dynamo): Results => ({
        kind: "dynamodb",
        table: (table) => {
          const key = table.key[0]!
          return DynamoDbSink.createTable(dynamo, {
            name: dynamoName(table),
            hashKey: { name: key.name, type: key.type === "text" ? "S" : "N" }
          }).pipe(
            Effect.mapError((error) =>
              startup(error.message, "DYNAMODB_ENDPOINT, AWS_REGION and TABLE_PREFIX (or --dynamodb-endpoint ...)")
            ),
            Effect.map((name) => DynamoDbSink.make(dynamo.doc, { name, key: [key.name] }, toItem))
          )
        }
      })
    )
  )

/**
 * Opens the destination `config.sink` names; PostgreSQL is probed at once
 * and registered as the `database` readiness check.
 *
 * @since 0.3.0
 * @category constructors
 */
export const open = (
  config: CommerceConfig.CommerceConfig,
  readiness?: Readiness.Readiness["Service"]
): Effect.Effect<Results, RunnerError, Scope.Scope> =>
  config.sink === "postgres" ? postgres(config, readiness) : dynamodb(config)
