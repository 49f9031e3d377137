/**
 * Writes records to DynamoDB tables with `BatchWriteItem` (through
 * `@aws-sdk/lib-dynamodb`, so items are plain JavaScript values) and
 * acknowledges a chunk's receipts once every item of it is written.
 *
 * A chunk is deduplicated by key (a later item wins: DynamoDB refuses a batch
 * naming one key twice), split into requests of 25 items, and what a request
 * returns as `UnprocessedItems` is sent again on an exponential `Schedule`
 * until nothing is left or the attempts run out. Puts replace whole items, so
 * a replayed record rewrites the same item. Exact decimals go in as
 * `BigDecimal` (or a `NumberValue`) and are stored as DynamoDB numbers from
 * their decimal text, never through a floating-point number.
 *
 * Table names are `<TABLE_PREFIX>-<name>` (prefix `cdc-platform` by default);
 * `AWS_REGION` (default `us-east-1`) and `DYNAMODB_ENDPOINT` (for DynamoDB
 * Local or dynalite) configure the client.
 *
 * ```ts
 * const dynamo = yield* DynamoDbSink.DynamoClient
 * yield* DynamoDbSink.createTable(dynamo, { name: "customer-segments", hashKey: { name: "customer_id", type: "N" } })
 * yield* segments.pipe(
 *   Stream.run(DynamoDbSink.make(dynamo.doc, { name: dynamo.tableName("customer-segments"), key: ["customer_id"] }, toItem))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { DynamoDBDocument, NumberValue } from "@aws-sdk/lib-dynamodb"
import type { Envelope, Policy, PolicyError } from "@sluice/core"
import { Receipt } from "@sluice/core"
import type { Scope } from "effect"
import { BigDecimal, Config, Context, type Duration, Effect, Layer, Option, Redacted, Schedule, Sink } from "effect"
import type * as DynamoLike from "./DynamoLike.ts"
import { classifyAws } from "./internal/classifyAws.ts"
import { toPlainString } from "./internal/decimal.ts"
import { SinkError, Unavailable, Unprocessed } from "./SinkError.ts"

/**
 * Client settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly region: string
  /** An endpoint other than AWS's, e.g. `http://127.0.0.1:8000`. */
  readonly endpoint?: string | undefined
  /** Prefix of every table name; `cdc-platform` by default. */
  readonly tablePrefix?: string | undefined
  /** Static credentials; the SDK's default chain (environment, profile, role) if absent. */
  readonly credentials?:
    | { readonly accessKeyId: string; readonly secretAccessKey: Redacted.Redacted<string> }
    | undefined
}

/**
 * Reads `AWS_REGION` (default `us-east-1`), `DYNAMODB_ENDPOINT` (optional)
 * and `TABLE_PREFIX` (default `cdc-platform`).
 *
 * @since 0.1.0
 * @category config
 */
export const clientConfig: Config.Config<ClientOptions> = Config.all({
  region: Config.String("AWS_REGION").pipe(Config.withDefault("us-east-1")),
  endpoint: Config.option(Config.String("DYNAMODB_ENDPOINT")),
  tablePrefix: Config.String("TABLE_PREFIX").pipe(Config.withDefault("cdc-platform"))
}).pipe(
  Config.map(
    (c): ClientOptions => ({
      region: c.region,
      tablePrefix: c.tablePrefix,
      ...(Option.isSome(c.endpoint) ? { endpoint: c.endpoint.value } : {})
    })
  )
)

/**
 * `<prefix>-<name>`, the seed's naming (`cdc-platform-customer-segments`).
 *
 * @since 0.1.0
 * @category utils
 */
export const tableName = (prefix: string, name: string): string => `${prefix}-${name}`

/**
 * The low-level client (table management) and the document client (items as
 * plain values), sharing one connection pool.
 *
 * @since 0.1.0
 * @category services
 */
export class DynamoClient extends Context.Service<
  DynamoClient,
  {
    readonly client: { send: DynamoDBClient["send"] }
    readonly doc: DynamoLike.BatchWriter
    readonly tablePrefix: string
    /** The full name of a table: `<tablePrefix>-<name>`. */
    readonly tableName: (name: string) => string
  }
>()("@sluice/sinks/DynamoClient") {}

/**
 * Builds the clients; they are destroyed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (options: ClientOptions): Effect.Effect<DynamoClient["Service"], never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(
        () =>
          new DynamoDBClient({
            region: options.region,
            ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
            ...(options.credentials === undefined
              ? {}
              : {
                  credentials: {
                    accessKeyId: options.credentials.accessKeyId,
                    secretAccessKey: Redacted.value(options.credentials.secretAccessKey)
                  }
                })
          })
      ),
      (client) => Effect.sync(() => client.destroy())
    ),
    (client) => {
      const prefix = options.tablePrefix ?? "cdc-platform"
      const doc = DynamoDBDocument.from(client, { marshallOptions: { removeUndefinedValues: true } })
      return DynamoClient.of({ client, doc, tablePrefix: prefix, tableName: (name) => tableName(prefix, name) })
    }
  )

/**
 * A layer with clients built from `options`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ClientOptions): Layer.Layer<DynamoClient> =>
  Layer.effect(DynamoClient, makeClient(options))

/**
 * A layer whose settings come from configuration (see `clientConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<ClientOptions> = clientConfig
): Layer.Layer<DynamoClient, Config.ConfigError> => Layer.effect(DynamoClient, Effect.flatMap(config, makeClient))

/**
 * A key attribute of a table: a string (`S`) or a number (`N`).
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyAttribute {
  readonly name: string
  readonly type: "S" | "N"
}

/**
 * What `createTable` creates: a table with a partition key (and optionally a
 * sort key), billed per request.
 *
 * @since 0.1.0
 * @category models
 */
export interface TableDefinition {
  /** The name without the prefix. */
  readonly name: string
  readonly hashKey: KeyAttribute
  readonly rangeKey?: KeyAttribute | undefined
}

/**
 * Creates `<prefix>-<name>` if it does not exist and waits (up to 30 seconds)
 * until it is active; resolves with the full table name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createTable = (
  dynamo: DynamoClient["Service"],
  definition: TableDefinition
): Effect.Effect<string, SinkError> => {
  const TableName = dynamo.tableName(definition.name)
  const keys = definition.rangeKey === undefined ? [definition.hashKey] : [definition.hashKey, definition.rangeKey]
  const create = Effect.tryPromise({
    try: () =>
      dynamo.client.send(
        new CreateTableCommand({
          TableName,
          BillingMode: "PAY_PER_REQUEST",
          KeySchema: keys.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? "HASH" : "RANGE" })),
          AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type }))
        })
      ),
    catch: (error) => error
  }).pipe(
    Effect.asVoid,
    // Created before, by us or someone else: the wait below still applies.
    Effect.catch((error) =>
      typeof error === "object" && error !== null && "name" in error && error.name === "ResourceInUseException"
        ? Effect.void
        : Effect.fail(classifyAws(TableName, error))
    )
  )
  const active = Effect.tryPromise({
    try: () => dynamo.client.send(new DescribeTableCommand({ TableName })),
    catch: (error) => classifyAws(TableName, error)
  }).pipe(
    Effect.flatMap((out) =>
      out.Table?.TableStatus === "ACTIVE"
        ? Effect.void
        : Effect.fail(
            new SinkError({
              sink: TableName,
              reason: new Unavailable({ retryable: true, detail: `table is ${out.Table?.TableStatus ?? "missing"}` })
            })
          )
    ),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
  )
  return Effect.as(Effect.andThen(create, active), TableName)
}

/**
 * The table a sink writes: its full name and key attribute names.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table {
  readonly name: string
  readonly key: ReadonlyArray<string>
}

/**
 * An item: attribute name to value. `BigDecimal` values at the top level are
 * written as exact DynamoDB numbers.
 *
 * @since 0.1.0
 * @category models
 */
export type Item = { readonly [attribute: string]: unknown }

/**
 * How the sink guards and retries its writes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Guards each chunk's writes: retries what is retryable, times out, trips a breaker. */
  readonly policy?: Policy.Policy | undefined
  /** Retries of `UnprocessedItems`: first delay (default 50 ms) and attempts after the first (default 8). */
  readonly unprocessed?:
    | { readonly base?: Duration.Input | undefined; readonly retries?: number | undefined }
    | undefined
  /** Requests of 25 items in flight at once (default 4). */
  readonly concurrency?: number | undefined
}

/**
 * The most items DynamoDB takes in one `BatchWriteItem`.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_BATCH = 25

const toAttribute = (value: unknown): unknown =>
  BigDecimal.isBigDecimal(value) ? NumberValue.from(toPlainString(value)) : value

/**
 * Writes batches of items to one table: what the sink runs per chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writer = (doc: DynamoLike.BatchWriter, table: Table, options?: Options) => {
  const retries = Math.max(0, options?.unprocessed?.retries ?? 8)
  const schedule = Schedule.upTo(Schedule.exponential(options?.unprocessed?.base ?? "50 millis"), { times: retries })
  const concurrency = Math.max(1, options?.concurrency ?? 4)

  const writeGroup = (group: Array<DynamoLike.WriteRequest>): Effect.Effect<void, SinkError> => {
    let pending = group
    const attempt = Effect.tryPromise({
      try: () => doc.batchWrite({ RequestItems: { [table.name]: pending } }),
      catch: (error) => classifyAws(table.name, error)
    }).pipe(
      Effect.flatMap((out) => {
        const left = out.UnprocessedItems?.[table.name] ?? []
        if (left.length === 0) return Effect.void
        pending = left
        return Effect.fail(new SinkError({ sink: table.name, reason: new Unprocessed({ items: left.length }) }))
      })
    )
    // Only unprocessed items are retried here; other failures are the policy's to retry.
    return Effect.retry(attempt, { schedule, while: (e) => e.reason._tag === "Unprocessed" })
  }

  /** Puts `items` (deduplicated by key, the last winning); resolves with the number written. */
  const write = (items: ReadonlyArray<Item>): Effect.Effect<number, SinkError> =>
    Effect.suspend(() => {
      const byKey = new Map<string, DynamoLike.WriteRequest>()
      for (const item of items) {
        const converted: Record<string, unknown> = {}
        for (const [name, value] of Object.entries(item)) converted[name] = toAttribute(value)
        const key =
          table.key.length === 1 ? String(item[table.key[0]!]) : JSON.stringify(table.key.map((k) => String(item[k])))
        byKey.set(key, { PutRequest: { Item: converted } })
      }
      const requests = Array.from(byKey.values())
      const groups: Array<Array<DynamoLike.WriteRequest>> = []
      for (let i = 0; i < requests.length; i += MAX_BATCH) groups.push(requests.slice(i, i + MAX_BATCH))
      return Effect.as(Effect.forEach(groups, writeGroup, { concurrency, discard: true }), requests.length)
    })

  return { table, write }
}

/**
 * A sink putting each record's item (`toItem`) into `table`; a chunk's
 * receipts are acknowledged once all its items are written. Fails with a
 * `SinkError` (or the policy's `PolicyError`), leaving the receipts
 * unacknowledged, when they cannot be.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(
  doc: DynamoLike.BatchWriter,
  table: Table,
  toItem: (value: A) => Item,
  options?: Options
): Sink.Sink<void, Envelope.Envelope<A>, never, SinkError | PolicyError.PolicyError> => {
  const w = writer(doc, table, options)
  const policy = options?.policy
  return Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) => {
    const write = Effect.suspend(() => w.write(chunk.map((e) => toItem(e.value))))
    const guarded: Effect.Effect<number, SinkError | PolicyError.PolicyError> =
      policy === undefined ? write : policy.run(write)
    return Effect.andThen(guarded, Receipt.ackAll(chunk.map((e) => e.receipt))).pipe(
      Effect.withSpan(
        "sluice.sink.write",
        {
          kind: "client",
          attributes: {
            "db.system": "dynamodb",
            "db.collection.name": table.name,
            "db.operation.batch.size": chunk.length
          }
        },
        { captureStackTrace: false }
      )
    )
  })
}
