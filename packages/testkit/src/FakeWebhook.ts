/**
 * A webhook receiver for tests and demos: a real HTTP server on loopback that
 * records every request (method, path, headers, body) and answers as told:
 * accept (2xx), fail with a status (for every request or the next `n`), or
 * stall (never answer, so the client's timeout fires). Closing the scope
 * closes the server and every open connection, stalled ones included.
 *
 * ```ts
 * const receiver = yield* FakeWebhook.make()
 * // POST to receiver.url, then:
 * yield* receiver.failNext(2, 503)
 * yield* receiver.set(FakeWebhook.Behaviour.stall)
 * const delivered = yield* receiver.delivered
 * ```
 *
 * @since 0.1.0
 */
import type * as Http from "node:http"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import { listen, portOf, readBody, shut } from "./internal/httpListener.ts"
import type { TestkitError } from "./TestkitError.ts"

/**
 * How the receiver answers.
 *
 * @since 0.1.0
 * @category models
 */
export type Behaviour =
  | { readonly _tag: "Accept"; readonly status: number }
  | { readonly _tag: "Fail"; readonly status: number }
  | { readonly _tag: "Stall" }

/**
 * Constructors for each `Behaviour`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Behaviour = {
  accept: { _tag: "Accept", status: 200 } as Behaviour,
  fail: (status = 503): Behaviour => ({ _tag: "Fail", status }),
  stall: { _tag: "Stall" } as Behaviour
} as const

/**
 * One request as received, with the status it was answered with
 * (`undefined` while stalled).
 *
 * @since 0.1.0
 * @category models
 */
export interface Received {
  readonly method: string
  readonly path: string
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** The body parsed as JSON, or `undefined` if it is not JSON. */
  readonly json: unknown
  readonly status: number | undefined
}

/**
 * A running receiver.
 *
 * @since 0.1.0
 * @category services
 */
export class FakeWebhook extends Context.Service<
  FakeWebhook,
  {
    readonly host: string
    readonly port: number
    /** `http://host:port/webhook`; any path is accepted and recorded. */
    readonly url: string
    /** Sets how every following request is answered. */
    readonly set: (behaviour: Behaviour) => Effect.Effect<void>
    /** Answers the next `n` requests with `status`, then goes back to the current behaviour. */
    readonly failNext: (n: number, status?: number) => Effect.Effect<void>
    /** Every request received, in order of arrival. */
    readonly requests: Effect.Effect<ReadonlyArray<Received>>
    /** The requests answered with a 2xx status. */
    readonly delivered: Effect.Effect<ReadonlyArray<Received>>
    /** How many requests arrived. */
    readonly count: Effect.Effect<number>
    /** How many requests were answered with a 2xx status (counted with `record: false` too). */
    readonly deliveredCount: Effect.Effect<number>
    /** Forgets the recorded requests. */
    readonly clear: Effect.Effect<void>
  }
>()("@sluice/testkit/FakeWebhook") {}

/**
 * Where the receiver listens and how it answers at first.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Listening address, 127.0.0.1 by default. */
  readonly host?: string | undefined
  /** Listening port, a free one by default. */
  readonly port?: number | undefined
  readonly behaviour?: Behaviour | undefined
  /**
   * Keep every request (true, the default), or only count them: for a
   * benchmark's millions of requests, which would not fit in memory.
   * Without them, `requests` and `delivered` answer empty lists.
   */
  readonly record?: boolean | undefined
}

const parse = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

const headersOf = (request: Http.IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

/**
 * Starts a receiver (accepting with 200 unless told otherwise); it stops when
 * the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<FakeWebhook["Service"], TestkitError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options?.host ?? "127.0.0.1"
    let behaviour: Behaviour = options?.behaviour ?? Behaviour.accept
    let failures: { remaining: number; status: number } | undefined
    const record = options?.record ?? true
    const received: Array<{ request: Omit<Received, "status">; status: number | undefined }> = []
    let arrived = 0
    let accepted = 0

    const handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      readBody(request).then(
        (body) => {
          arrived++
          const entry = record
            ? {
                request: {
                  method: request.method ?? "GET",
                  path: request.url ?? "/",
                  headers: headersOf(request),
                  body,
                  json: parse(body)
                },
                status: undefined as number | undefined
              }
            : undefined
          if (entry !== undefined) received.push(entry)
          let status: number | undefined
          if (failures !== undefined && failures.remaining > 0) {
            failures.remaining--
            status = failures.status
          } else if (behaviour._tag !== "Stall") {
            status = behaviour.status
          }
          // A stalled request is left unanswered until the client gives up or the server closes.
          if (status === undefined) return
          if (entry !== undefined) entry.status = status
          if (status >= 200 && status < 300) accepted++
          response.writeHead(status, { "content-type": "application/json" })
          response.end(JSON.stringify({ ok: status >= 200 && status < 300 }))
        },
        () => response.destroy()
      )
    }

    const server = yield* Effect.acquireRelease(listen(handler, host, options?.port ?? 0), shut)
    const port = portOf(server, options?.port ?? 0)
    const snapshot = () => received.map((e) => ({ ...e.request, status: e.status }))
    return FakeWebhook.of({
      host,
      port,
      url: `http://${host}:${port}/webhook`,
      set: (next) =>
        Effect.sync(() => {
          behaviour = next
        }),
      failNext: (n, status = 503) =>
        Effect.sync(() => {
          failures = { remaining: n, status }
        }),
      requests: Effect.sync(snapshot),
      delivered: Effect.sync(() =>
        snapshot().filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300)
      ),
      count: Effect.sync(() => arrived),
      deliveredCount: Effect.sync(() => accepted),
      clear: Effect.sync(() => {
        received.length = 0
        arrived = 0
        accepted = 0
      })
    })
  })

/**
 * The receiver as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeWebhook, TestkitError> =>
  Layer.effect(FakeWebhook, make(options))
