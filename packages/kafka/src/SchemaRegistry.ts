/**
 * A client of a Confluent-compatible schema registry (Confluent Schema
 * Registry, or the embedded one of `@sluice/testkit`): register and look up
 * schemas under subjects, fetch a schema by the id found in a record, check
 * and set compatibility. Answers that do not change are cached: the id of a
 * registered schema per subject, and the schema of each id (ids are never
 * reused), in bounded caches; an unknown id is remembered as unknown for a
 * while, so a stream of records with a bad id costs one request, not one
 * per record.
 *
 * Failures are `KafkaError`s: the registry's error code becomes a `Protocol`
 * reason (`INCOMPATIBLE_SCHEMA` 409, `INVALID_SCHEMA` 42201,
 * `SUBJECT_NOT_FOUND` 40401, `SCHEMA_NOT_FOUND` 40403...), retryable only for
 * server errors; an unreachable registry is a retryable `Connection`.
 *
 * This is a small client written for Effect rather than a wrapper of
 * `@kafkajs/confluent-schema-registry`: that library is maintained and works
 * on Node 24, but it brings its own HTTP stack (mappersmith) with its own
 * retries and timers, untyped promise errors, and Protobuf and JSON Schema
 * runtimes we do not need; the REST calls a serde makes are few. The test
 * suite uses that library against the embedded registry and reads what it
 * writes (and the other way round), so both speak the same protocol.
 *
 * @since 0.1.0
 */
import { Cache, Config, Context, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as KafkaError from "./KafkaError.ts"

/**
 * The schema languages the serdes use.
 *
 * @since 0.1.0
 * @category models
 */
export type SchemaType = "AVRO" | "JSON"

/**
 * A schema as the registry stores it: its language and its text.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchemaDefinition {
  readonly schemaType: SchemaType
  readonly schema: string
}

/**
 * A schema registered under a subject.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegisteredSchema extends SchemaDefinition {
  readonly subject: string
  readonly version: number
  readonly id: number
}

/**
 * A compatibility level of a subject or of the whole registry.
 *
 * @since 0.1.0
 * @category models
 */
export type CompatibilityLevel =
  | "NONE"
  | "BACKWARD"
  | "BACKWARD_TRANSITIVE"
  | "FORWARD"
  | "FORWARD_TRANSITIVE"
  | "FULL"
  | "FULL_TRANSITIVE"

/**
 * How to reach the registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The base URL, e.g. `http://localhost:8081`; credentials in it are used as basic auth. */
  readonly url: string
  readonly basicAuth?: { readonly username: string; readonly password: Redacted.Redacted<string> } | undefined
  /** Per request; 10 seconds by default. */
  readonly timeout?: Duration.Input | undefined
  /** Schemas kept by id; 1,000 by default. */
  readonly cacheCapacity?: number | undefined
  /** How long an id the registry does not know is remembered as unknown; 1 minute by default. */
  readonly unknownIdTtl?: Duration.Input | undefined
}

/**
 * The registry client.
 *
 * @since 0.1.0
 * @category services
 */
export class SchemaRegistry extends Context.Service<
  SchemaRegistry,
  {
    readonly url: string
    /** Registers `schema` under `subject` (or finds it there) and answers its id; cached. */
    readonly register: (subject: string, schema: SchemaDefinition) => Effect.Effect<number, KafkaError.KafkaError>
    /** The id and version of `schema` under `subject`, which must already hold it; cached. */
    readonly lookup: (
      subject: string,
      schema: SchemaDefinition
    ) => Effect.Effect<RegisteredSchema, KafkaError.KafkaError>
    /** The schema with this id; cached (ids are never reused). */
    readonly schemaById: (id: number) => Effect.Effect<SchemaDefinition, KafkaError.KafkaError>
    /** A version of a subject, `"latest"` by default; not cached. */
    readonly version: (
      subject: string,
      version?: number | "latest"
    ) => Effect.Effect<RegisteredSchema, KafkaError.KafkaError>
    readonly subjects: Effect.Effect<ReadonlyArray<string>, KafkaError.KafkaError>
    readonly versions: (subject: string) => Effect.Effect<ReadonlyArray<number>, KafkaError.KafkaError>
    /** Whether `schema` could be registered under `subject` now. */
    readonly isCompatible: (
      subject: string,
      schema: SchemaDefinition,
      version?: number | "latest"
    ) => Effect.Effect<boolean, KafkaError.KafkaError>
    /** Sets the level of `subject`, or the global one when `subject` is absent. */
    readonly setCompatibility: (
      level: CompatibilityLevel,
      subject?: string
    ) => Effect.Effect<void, KafkaError.KafkaError>
    /** Soft-deletes a subject; answers the versions it had. */
    readonly deleteSubject: (subject: string) => Effect.Effect<ReadonlyArray<number>, KafkaError.KafkaError>
  }
>()("@sluice/kafka/SchemaRegistry") {}

/**
 * How the subject of a topic's schema is named.
 *
 * - `TopicNameStrategy` (the default): `<topic>-value` or `<topic>-key`, so a
 *   topic has one schema that evolves;
 * - `RecordNameStrategy`: the record's full name, so a topic can carry
 *   several record types, each evolving on its own;
 * - `TopicRecordNameStrategy`: `<topic>-<record full name>`.
 *
 * @since 0.1.0
 * @category models
 */
export type SubjectNameStrategy = "TopicNameStrategy" | "RecordNameStrategy" | "TopicRecordNameStrategy"

/**
 * The subject for a topic's key or value under `strategy`; `recordName` is
 * the schema's full name, needed by the record strategies.
 *
 * @since 0.1.0
 * @category utils
 */
export const subjectName = (
  strategy: SubjectNameStrategy,
  topic: string,
  isKey: boolean,
  recordName: string | undefined
): string => {
  if (strategy === "TopicNameStrategy") return `${topic}-${isKey ? "key" : "value"}`
  if (recordName === undefined) throw new Error(`${strategy} needs a named record schema`)
  return strategy === "RecordNameStrategy" ? recordName : `${topic}-${recordName}`
}

const codeNames: Record<number, string> = {
  40101: "UNAUTHORIZED",
  40401: "SUBJECT_NOT_FOUND",
  40402: "VERSION_NOT_FOUND",
  40403: "SCHEMA_NOT_FOUND",
  40404: "SUBJECT_SOFT_DELETED",
  40408: "SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED",
  409: "INCOMPATIBLE_SCHEMA",
  42201: "INVALID_SCHEMA",
  42202: "INVALID_VERSION",
  42203: "INVALID_COMPATIBILITY_LEVEL",
  50001: "STORE_ERROR",
  50002: "OPERATION_TIMEOUT",
  50003: "FORWARDING_ERROR"
}

/**
 * The registry's error code of a failure, e.g. 409 for an incompatible
 * schema or 40403 for an unknown id; `undefined` for other failures.
 *
 * @since 0.1.0
 * @category utils
 */
export const errorCode = (error: KafkaError.KafkaError): number | undefined =>
  error.reason._tag === "Protocol" && error.operation.startsWith("schemaRegistry.") ? error.reason.code : undefined

const contentType = "application/vnd.schemaregistry.v1+json"

const field = (body: unknown, name: string): unknown =>
  typeof body === "object" && body !== null && name in body ? (body as Record<string, unknown>)[name] : undefined

const causeCode = (cause: unknown): string | undefined => {
  const inner = field(cause, "cause")
  const code = field(inner, "code") ?? field(cause, "code")
  return typeof code === "string" ? code : undefined
}

const asType = (value: unknown): SchemaType => (value === "JSON" ? "JSON" : "AVRO")

const registered = (body: unknown): RegisteredSchema => ({
  subject: String(field(body, "subject")),
  version: Number(field(body, "version")),
  id: Number(field(body, "id")),
  schemaType: asType(field(body, "schemaType")),
  schema: String(field(body, "schema"))
})

const requestBody = (schema: SchemaDefinition) =>
  schema.schemaType === "AVRO" ? { schema: schema.schema } : { schemaType: schema.schemaType, schema: schema.schema }

/**
 * Connects to the registry described by `options`. Nothing is requested
 * until the first call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (options: Options) {
  const parsed = new URL(options.url)
  const fromUrl =
    parsed.username === ""
      ? undefined
      : {
          username: decodeURIComponent(parsed.username),
          password: Redacted.make(decodeURIComponent(parsed.password))
        }
  parsed.username = ""
  parsed.password = ""
  const base = parsed.toString().replace(/\/+$/, "")
  const auth = options.basicAuth ?? fromUrl
  const authorization =
    auth === undefined
      ? undefined
      : `Basic ${Buffer.from(`${auth.username}:${Redacted.value(auth.password)}`).toString("base64")}`
  const timeout = Duration.fromInputUnsafe(options.timeout ?? "10 seconds")

  const request = (
    operation: string,
    method: string,
    path: string,
    body?: unknown
  ): Effect.Effect<unknown, KafkaError.KafkaError> => {
    const name = `schemaRegistry.${operation}`
    return Effect.tryPromise({
      try: async (signal) => {
        const response = await fetch(`${base}${path}`, {
          method,
          signal,
          headers: {
            accept: `${contentType}, application/json`,
            ...(body === undefined ? {} : { "content-type": contentType }),
            ...(authorization === undefined ? {} : { authorization })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const text = await response.text()
        let parsed: unknown
        try {
          parsed = text === "" ? undefined : JSON.parse(text)
        } catch {
          parsed = text
        }
        return { status: response.status, body: parsed }
      },
      catch: (cause) =>
        new KafkaError.KafkaError({
          operation: name,
          reason: new KafkaError.Connection({
            broker: base,
            ...(causeCode(cause) === undefined ? {} : { code: causeCode(cause) as string })
          }),
          cause
        })
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(KafkaError.timeout(name, Duration.toMillis(timeout)))
      }),
      Effect.flatMap(({ status, body }) => {
        if (status >= 200 && status < 300) return Effect.succeed(body)
        const message = field(body, "message")
        const cause = new Error(`${method} ${path}: HTTP ${status}: ${typeof message === "string" ? message : ""}`)
        if (status === 401 || status === 403) {
          return Effect.fail(
            new KafkaError.KafkaError({ operation: name, reason: new KafkaError.Authentication(), cause })
          )
        }
        const rawCode = field(body, "error_code")
        const code = typeof rawCode === "number" ? rawCode : status
        return Effect.fail(
          new KafkaError.KafkaError({
            operation: name,
            reason: new KafkaError.Protocol({
              type: codeNames[code] ?? `HTTP_${status}`,
              code,
              retryable: status >= 500 || status === 429
            }),
            cause
          })
        )
      })
    )
  }

  const enc = encodeURIComponent
  const capacity = options.cacheCapacity ?? 1000
  const unknownIdTtl = Duration.fromInputUnsafe(options.unknownIdTtl ?? "1 minute")

  const byId = yield* Cache.makeWith(
    (id: number) =>
      Effect.map(
        request("schemaById", "GET", `/schemas/ids/${id}`),
        (body): SchemaDefinition => ({
          schemaType: asType(field(body, "schemaType")),
          schema: String(field(body, "schema"))
        })
      ),
    {
      capacity,
      // Found schemas never change; an unknown id is remembered for a while;
      // a failure to ask is not remembered at all.
      timeToLive: (exit) =>
        Exit.isSuccess(exit)
          ? Duration.infinity
          : Option.match(Exit.findErrorOption(exit), {
              onNone: () => Duration.zero,
              onSome: (error) => (errorCode(error) === 40403 ? unknownIdTtl : Duration.zero)
            })
    }
  )

  const key = (subject: string, schema: SchemaDefinition) => JSON.stringify([subject, schema.schemaType, schema.schema])
  const fromKey = (k: string) => {
    const [subject, schemaType, schema] = JSON.parse(k) as [string, SchemaType, string]
    return { subject, schema: { schemaType, schema } }
  }
  const onlySuccess = (exit: Exit.Exit<unknown, unknown>) => (Exit.isSuccess(exit) ? Duration.infinity : Duration.zero)

  const registerCache = yield* Cache.makeWith(
    (k: string) => {
      const { subject, schema } = fromKey(k)
      return Effect.map(
        request("register", "POST", `/subjects/${enc(subject)}/versions`, requestBody(schema)),
        (body) => Number(field(body, "id"))
      )
    },
    { capacity, timeToLive: onlySuccess }
  )
  const lookupCache = yield* Cache.makeWith(
    (k: string) => {
      const { subject, schema } = fromKey(k)
      return Effect.map(request("lookup", "POST", `/subjects/${enc(subject)}`, requestBody(schema)), registered)
    },
    { capacity, timeToLive: onlySuccess }
  )

  return SchemaRegistry.of({
    url: base,
    register: (subject, schema) => Cache.get(registerCache, key(subject, schema)),
    lookup: (subject, schema) => Cache.get(lookupCache, key(subject, schema)),
    schemaById: (id) => Cache.get(byId, id),
    version: (subject, version = "latest") =>
      Effect.map(request("version", "GET", `/subjects/${enc(subject)}/versions/${version}`), registered),
    subjects: Effect.map(request("subjects", "GET", "/subjects"), (body) =>
      Array.isArray(body) ? body.map(String) : []
    ),
    versions: (subject) =>
      Effect.map(request("versions", "GET", `/subjects/${enc(subject)}/versions`), (body) =>
        Array.isArray(body) ? body.map(Number) : []
      ),
    isCompatible: (subject, schema, version = "latest") =>
      Effect.map(
        request(
          "isCompatible",
          "POST",
          `/compatibility/subjects/${enc(subject)}/versions/${version}`,
          requestBody(schema)
        ),
        (body) => field(body, "is_compatible") === true
      ),
    setCompatibility: (level, subject) =>
      Effect.asVoid(
        request("setCompatibility", "PUT", subject === undefined ? "/config" : `/config/${enc(subject)}`, {
          compatibility: level
        })
      ),
    deleteSubject: (subject) =>
      Effect.map(request("deleteSubject", "DELETE", `/subjects/${enc(subject)}`), (body) =>
        Array.isArray(body) ? body.map(Number) : []
      )
  })
})

/**
 * The client as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SchemaRegistry> => Layer.effect(SchemaRegistry, make(options))

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

/**
 * The registry settings from the environment: `SCHEMA_REGISTRY_URL`, and
 * for basic auth `SCHEMA_REGISTRY_USERNAME` with `SCHEMA_REGISTRY_PASSWORD`
 * (or Confluent's `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`, `user:password`),
 * `SCHEMA_REGISTRY_TIMEOUT` for each request.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.String("SCHEMA_REGISTRY_URL"),
  username: optional(Config.String("SCHEMA_REGISTRY_USERNAME")),
  password: optional(Config.Redacted("SCHEMA_REGISTRY_PASSWORD")),
  userInfo: optional(Config.Redacted("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")),
  timeout: optional(Config.Duration("SCHEMA_REGISTRY_TIMEOUT"))
}).pipe(
  Config.map(({ url, username, password, userInfo, timeout }): Options => {
    const info = userInfo === undefined ? undefined : Redacted.value(userInfo)
    const split = info === undefined ? -1 : info.indexOf(":")
    const basicAuth =
      username !== undefined && password !== undefined
        ? { username, password }
        : info !== undefined && split > 0
          ? { username: info.slice(0, split), password: Redacted.make(info.slice(split + 1)) }
          : undefined
    return { url, ...(basicAuth === undefined ? {} : { basicAuth }), ...(timeout === undefined ? {} : { timeout }) }
  })
)

/**
 * The client configured from `config` (the environment, by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<SchemaRegistry, Config.ConfigError> => Layer.effect(SchemaRegistry, Effect.flatMap(options, make))
