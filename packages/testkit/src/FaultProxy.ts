/**
 * A TCP proxy to put between a client and a server (PostgreSQL, a Kafka
 * broker) in tests, whose behaviour can be switched while connections are
 * open: pass data through, delay it, swallow it (blackhole), reset
 * connections, or refuse new ones. Switching back to `PassThrough` makes new
 * connections work again, which is how a test checks that a pipeline recovers.
 *
 * ```ts
 * import { Effect } from "effect"
 * import { FaultProxy } from "@sluice/testkit"
 *
 * const program = Effect.gen(function* () {
 *   const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
 *   // point the client at proxy.host:proxy.port, then:
 *   yield* proxy.set(FaultProxy.FaultMode.latency("200 millis", "50 millis"))
 *   yield* proxy.set(FaultProxy.FaultMode.reset)
 *   yield* proxy.set(FaultProxy.FaultMode.passThrough)
 * })
 * ```
 *
 * @since 0.1.0
 */

import * as Net from "node:net"
import type { Scope } from "effect"
import { Context, Duration, Effect, Layer, Semaphore } from "effect"
import { FaultProxyError } from "./FaultProxyError.ts"
import { Relay } from "./internal/relay.ts"

/**
 * How the proxy treats traffic.
 *
 * - `PassThrough`: forwards bytes both ways.
 * - `Latency`: forwards each chunk, in both directions, after `latency` plus a
 *   random extra delay between zero and `jitter`; bytes of a connection keep
 *   their order.
 * - `Blackhole`: accepts connections and reads their data, but forwards and
 *   answers nothing. Connections accepted in this mode never reach the target,
 *   even after switching back.
 * - `Reset`: resets (TCP RST) every open connection, and every new one while
 *   the mode lasts.
 * - `Refuse`: closes the listening socket, so connecting fails with
 *   `ECONNREFUSED`; open connections are left alone and keep passing data.
 *   Any other mode listens again on the same port.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultMode =
  | { readonly _tag: "PassThrough" }
  | { readonly _tag: "Latency"; readonly latency: Duration.Duration; readonly jitter: Duration.Duration }
  | { readonly _tag: "Blackhole" }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Refuse" }

/**
 * Constructors for each `FaultMode`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const FaultMode = {
  passThrough: { _tag: "PassThrough" } as FaultMode,
  latency: (latency: Duration.Input, jitter: Duration.Input = Duration.zero): FaultMode => ({
    _tag: "Latency",
    latency: Duration.fromInputUnsafe(latency),
    jitter: Duration.fromInputUnsafe(jitter)
  }),
  blackhole: { _tag: "Blackhole" } as FaultMode,
  reset: { _tag: "Reset" } as FaultMode,
  refuse: { _tag: "Refuse" } as FaultMode
} as const

/**
 * A running proxy. Clients connect to `host:port`; the target is fixed at
 * construction.
 *
 * @since 0.1.0
 * @category services
 */
export class FaultProxy extends Context.Service<
  FaultProxy,
  {
    /** The address clients connect to. */
    readonly host: string
    /** The port clients connect to; it stays the same across `Refuse`. */
    readonly port: number
    /** Switches the mode; fails only if the port cannot be reopened after `Refuse`. */
    readonly set: (mode: FaultMode) => Effect.Effect<void, FaultProxyError>
    /** The current mode. */
    readonly mode: Effect.Effect<FaultMode>
    /** How many client connections are open. */
    readonly connections: Effect.Effect<number>
  }
>()("@sluice/testkit/FaultProxy") {}

/**
 * Where the proxy forwards to, and where it listens (by default 127.0.0.1 on
 * a free port).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly target: { readonly host: string; readonly port: number }
  readonly host?: string
  readonly port?: number
}

const listen = (relay: Relay, host: string, port: number): Effect.Effect<Net.Server, unknown> =>
  Effect.callback<Net.Server, unknown>((resume) => {
    const server = Net.createServer({ allowHalfOpen: true }, (socket) => relay.accept(socket))
    server.once("error", (cause) => resume(Effect.fail(cause)))
    server.listen({ host, port }, () => {
      server.removeAllListeners("error")
      server.on("error", () => {})
      resume(Effect.succeed(server))
    })
    return Effect.sync(() => server.close())
  })

const close = (server: Net.Server): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    server.close(() => resume(Effect.void))
  })

/**
 * Starts a proxy in `PassThrough` mode. Closing the scope closes the listening
 * socket and every connection through the proxy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function* (
  options: Options
): Effect.fn.Return<FaultProxy["Service"], FaultProxyError, Scope.Scope> {
  const host = options.host ?? "127.0.0.1"
  let current: FaultMode = FaultMode.passThrough
  const relay = new Relay(options.target, () => current)
  let server: Net.Server | undefined = yield* Effect.acquireRelease(
    listen(relay, host, options.port ?? 0).pipe(
      Effect.mapError((cause) => new FaultProxyError({ reason: "Listen", host, port: options.port ?? 0, cause }))
    ),
    () =>
      Effect.suspend(() => {
        relay.close()
        const open = server
        server = undefined
        return open === undefined ? Effect.void : close(open)
      })
  )
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0)
  const lock = yield* Semaphore.make(1)

  const set = (next: FaultMode): Effect.Effect<void, FaultProxyError> =>
    lock.withPermit(
      Effect.gen(function* () {
        if (relay.closed) return
        const previous = current
        current = next
        if (next._tag === "Refuse" && server !== undefined) {
          // Not waiting for the close callback: it also waits for the open
          // connections, which Refuse leaves alone.
          server.close()
          server = undefined
        } else if (next._tag !== "Refuse" && server === undefined) {
          server = yield* listen(relay, host, port).pipe(
            Effect.tapError(() => Effect.sync(() => (current = previous))),
            Effect.mapError((cause) => new FaultProxyError({ reason: "Relisten", host, port, cause }))
          )
        }
        if (next._tag === "Reset") relay.resetAll()
        yield* Effect.logDebug("fault proxy mode changed").pipe(
          Effect.annotateLogs({ proxy: `${host}:${port}`, from: previous._tag, to: next._tag })
        )
      })
    )

  return FaultProxy.of({
    host,
    port,
    set,
    mode: Effect.sync(() => current),
    connections: Effect.sync(() => relay.size)
  })
})

/**
 * The proxy as a layer, for suites that share one proxy.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<FaultProxy, FaultProxyError> =>
  Layer.effect(FaultProxy, make(options))
