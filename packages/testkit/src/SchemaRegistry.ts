/**
 * An embedded schema registry: a real HTTP server on loopback that speaks
 * the REST subset of Confluent Schema Registry that producers and consumers
 * use, so Avro and JSON Schema topics can be tested without a registry
 * server, the way `EmbeddedKafka` stands in for a broker.
 *
 * - subjects and versions: `GET /subjects`, `GET /subjects/{s}/versions`,
 *   `GET /subjects/{s}/versions/{v|latest}` (and `/schema`),
 *   `POST /subjects/{s}/versions` (register: the same schema keeps its id),
 *   `POST /subjects/{s}` (look a schema up);
 * - schemas by id: `GET /schemas/ids/{id}`, `/schemas/ids/{id}/versions`;
 * - compatibility: `POST /compatibility/subjects/{s}/versions/{v|latest}`,
 *   `GET/PUT /config` and `GET/PUT/DELETE /config/{s}` with `NONE`,
 *   `BACKWARD` (the default), `FORWARD`, `FULL` and their `_TRANSITIVE`
 *   forms. Avro is checked with Avro's schema resolution (avsc), JSON Schema
 *   with a structural subset (types, required properties without a default,
 *   properties removed from a closed schema, enums, items);
 * - deletion: `DELETE /subjects/{s}` and `/subjects/{s}/versions/{v}`, soft
 *   unless `?permanent=true` follows a soft delete.
 *
 * Errors carry Confluent's codes: 409 for an incompatible schema, 42201 for
 * an invalid one, 40401/40402/40403 for an unknown subject, version or
 * schema, 40101 for missing credentials when basic auth is on. With a data
 * directory, state survives a restart: ids and versions stay the same.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { SchemaRegistry } from "@sluice/testkit"
 *
 * const program = Effect.gen(function* () {
 *   const registry = yield* SchemaRegistry.make({ dataDir: "./registry-data" })
 *   // point clients at registry.url, e.g. SCHEMA_REGISTRY_URL
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import type { Scope } from "effect"
import { Context, Effect, Layer, Redacted } from "effect"
import * as Api from "./internal/registry/api.ts"
import type * as Compatibility from "./internal/registry/compatibility.ts"
import * as Store from "./internal/registry/store.ts"
import { TestkitError } from "./TestkitError.ts"

/**
 * A compatibility level, as the registry's `/config` endpoints spell it.
 *
 * @since 0.1.0
 * @category models
 */
export type CompatibilityLevel = Compatibility.Level

/**
 * The content type of every answer, as clients expect it.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "application/vnd.schemaregistry.v1+json"

/**
 * Where the registry listens and keeps its state.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** Keeps schemas, versions and configuration across restarts; in memory when absent. */
  readonly dataDir?: string
  /** When set, every request needs these credentials (HTTP basic auth). */
  readonly basicAuth?: { readonly username: string; readonly password: Redacted.Redacted<string> }
  /** The global compatibility level of a fresh registry; default `BACKWARD`. */
  readonly compatibility?: CompatibilityLevel
}

/**
 * A running registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registry {
  /** The base URL clients use, e.g. `http://127.0.0.1:38081`. */
  readonly url: string
  readonly host: string
  readonly port: number
}

/**
 * The registry as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class SchemaRegistry extends Context.Service<SchemaRegistry, Registry>()("@sluice/testkit/SchemaRegistry") {}

const maxBody = 16 * 1024 * 1024

const send = (response: Http.ServerResponse, result: Api.Response): void => {
  const text = JSON.stringify(result.body)
  response.writeHead(result.status, { "content-type": contentType, "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const authorised = (header: string | undefined, expected: string | undefined): boolean =>
  expected === undefined || header === expected

const serveRequest =
  (api: Api.Api, expectedAuth: string | undefined) =>
  (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
    if (!authorised(request.headers.authorization, expectedAuth)) {
      send(response, Api.failure(401, Api.ErrorCode.unauthorized, "Unauthorized"))
      request.resume()
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBody) chunks.push(chunk)
    })
    request.on("end", () => {
      if (size > maxBody) return send(response, Api.failure(413, 413, "Request body too large"))
      const text = Buffer.concat(chunks).toString("utf8")
      let body: unknown
      try {
        body = text.trim() === "" ? undefined : JSON.parse(text)
      } catch {
        return send(response, Api.failure(400, 400, "Unrecognized request body: not JSON"))
      }
      const url = new URL(request.url ?? "/", "http://registry")
      const path = url.pathname
        .split("/")
        .filter((part) => part !== "")
        .map((part) => decodeURIComponent(part))
      try {
        send(response, api.handle({ method: request.method ?? "GET", path, query: url.searchParams, body }))
      } catch (cause) {
        send(response, Api.failure(500, 50001, `Error in the backend data store: ${String(cause)}`))
      }
    })
  }

/**
 * Starts a registry; closing the scope stops it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  options: Options = {}
): Effect.fn.Return<Registry, TestkitError, Scope.Scope> {
  const host = options.host ?? "127.0.0.1"
  const level = options.compatibility ?? "BACKWARD"
  const dataDir = options.dataDir
  const state = yield* Effect.try({
    try: () => (dataDir === undefined ? Store.empty(level) : Store.load(dataDir, level)),
    catch: (cause) =>
      new TestkitError({ reason: "Storage", message: "cannot open the registry's data directory", cause })
  })
  const api = Api.make(state, dataDir === undefined ? () => {} : (next) => Store.save(dataDir, next))
  const expectedAuth =
    options.basicAuth === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.basicAuth.username}:${Redacted.value(options.basicAuth.password)}`).toString("base64")}`
  const server = yield* Effect.acquireRelease(
    Effect.callback<Http.Server, TestkitError>((resume) => {
      const server = Http.createServer(serveRequest(api, expectedAuth))
      server.once("error", (cause) =>
        resume(Effect.fail(new TestkitError({ reason: "Listen", message: `cannot listen on ${host}`, cause })))
      )
      server.listen({ host, port: options.port ?? 0 }, () => {
        server.removeAllListeners("error")
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0)
  return { url: `http://${host}:${port}`, host, port }
})

/**
 * The registry as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SchemaRegistry, TestkitError> =>
  Layer.effect(SchemaRegistry, Effect.map(make(options), SchemaRegistry.of))

/**
 * Runs a registry until SIGINT or SIGTERM, logging its URL: the body of a
 * standalone command.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (options: Options = {}): Effect.Effect<void, TestkitError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const registry = yield* make(options)
      yield* Effect.log(`embedded schema registry listening on ${registry.url}`)
      yield* Effect.callback<void>((resume) => {
        const stop = () => resume(Effect.void)
        process.once("SIGINT", stop)
        process.once("SIGTERM", stop)
        return Effect.sync(() => {
          process.off("SIGINT", stop)
          process.off("SIGTERM", stop)
        })
      })
      yield* Effect.log("stopping")
    })
  )
