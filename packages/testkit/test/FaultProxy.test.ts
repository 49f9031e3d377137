import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Option, Schedule, Scope } from "effect"
import * as FaultProxy from "../src/FaultProxy.ts"
import { FaultMode } from "../src/FaultProxy.ts"

const host = "127.0.0.1"

/** A TCP server that sends every byte back; closed with the scope. */
const echoServer = Effect.acquireRelease(
  Effect.callback<Net.Server>((resume) => {
    const server = Net.createServer((socket) => {
      socket.on("error", () => {})
      socket.pipe(socket)
    })
    server.listen({ host, port: 0 }, () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(
  Effect.map((server) => {
    const address = server.address() as Net.AddressInfo
    return { host, port: address.port }
  })
)

type SocketError = Error & { readonly code?: string }

/** A client connection, destroyed with the scope. */
const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, SocketError>((resume) => {
      const socket = Net.connect({ host, port })
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.once("connect", () => {
        socket.removeAllListeners("error")
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Writes `payload` and waits until as many bytes have come back. */
const roundTrip = (socket: Net.Socket, payload: Buffer) =>
  Effect.callback<Buffer>((resume) => {
    const chunks: Array<Buffer> = []
    let length = 0
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      length += chunk.length
      if (length >= payload.length) {
        socket.off("data", onData)
        resume(Effect.succeed(Buffer.concat(chunks)))
      }
    }
    socket.on("data", onData)
    socket.write(payload)
    return Effect.sync(() => socket.off("data", onData))
  })

/** Resolves when the socket closes, with the error that closed it, if any. */
const closed = (socket: Net.Socket) =>
  Effect.callback<SocketError | undefined>((resume) => {
    if (socket.destroyed) return resume(Effect.succeed(socket.errored ?? undefined))
    let error: SocketError | undefined
    socket.on("error", (e) => (error = e))
    socket.once("close", () => resume(Effect.succeed(error)))
  })

/** Milliseconds taken by `effect`, on the live clock. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeNanos
    const value = yield* effect
    const end = yield* Clock.currentTimeNanos
    return [value, Number(end - start) / 1e6] as const
  })

/** Polls `condition` every 10 ms, failing after 5 s. */
const eventually = (condition: Effect.Effect<boolean>) =>
  condition.pipe(
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (ok) => ok }),
    Effect.timeout("5 seconds")
  )

const payload = Buffer.from("ping")

describe("FaultProxy", () => {
  it.live("make - forwards bytes both ways in PassThrough and counts connections", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      assert.strictEqual((yield* proxy.mode)._tag, "PassThrough")
      const socket = yield* connect(proxy.port)
      assert.deepStrictEqual(yield* roundTrip(socket, payload), payload)
      assert.strictEqual(yield* proxy.connections, 1)
      socket.end()
      yield* eventually(Effect.map(proxy.connections, (n) => n === 0))
    })
  )

  it.live("set - Latency delays each direction by at least the configured latency", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      const socket = yield* connect(proxy.port)
      const [, direct] = yield* timed(roundTrip(socket, payload))
      yield* proxy.set(FaultMode.latency("100 millis", "20 millis"))
      const [echoed, delayed] = yield* timed(roundTrip(socket, payload))
      assert.deepStrictEqual(echoed, payload)
      // Request and reply are each held for at least 100 ms; 1 ms of slack
      // covers timers that round their deadline down.
      assert.isAtLeast(delayed, 199, `pass-through ${direct} ms, with latency ${delayed} ms`)
    })
  )

  it.live("set - Latency with jitter keeps the byte order of a connection", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      yield* proxy.set(FaultMode.latency("1 millis", "30 millis"))
      const socket = yield* connect(proxy.port)
      const expected = Buffer.from(Array.from({ length: 200 }, (_, i) => `${i},`).join(""))
      const received = yield* Effect.callback<Buffer>((resume) => {
        const chunks: Array<Buffer> = []
        let length = 0
        socket.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          length += chunk.length
          if (length >= expected.length) resume(Effect.succeed(Buffer.concat(chunks)))
        })
        // Separate writes a few milliseconds apart arrive as separate chunks,
        // each with its own random delay.
        let i = 0
        const timer = setInterval(() => {
          socket.write(`${i},`)
          if (++i === 200) clearInterval(timer)
        }, 1)
        return Effect.sync(() => clearInterval(timer))
      })
      assert.strictEqual(received.toString(), expected.toString())
    })
  )

  it.live("set - Latency carries a payload larger than its delay buffer intact", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      yield* proxy.set(FaultMode.latency("5 millis", "5 millis"))
      const socket = yield* connect(proxy.port)
      // 4 MiB exceeds the 1 MiB a direction may hold back, so reading pauses and resumes.
      const big = Buffer.alloc(4 * 1024 * 1024)
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251
      const echoed = yield* roundTrip(socket, big)
      assert.strictEqual(echoed.length, big.length)
      assert.isTrue(echoed.equals(big))
    })
  )

  it.live("set - Blackhole accepts connections and data but never answers", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      const before = yield* connect(proxy.port)
      yield* proxy.set(FaultMode.blackhole)
      const answer = yield* Effect.timeoutOption(roundTrip(before, payload), "300 millis")
      assert.isTrue(Option.isNone(answer))
      const during = yield* connect(proxy.port)
      assert.isTrue(Option.isNone(yield* Effect.timeoutOption(roundTrip(during, payload), "300 millis")))
      assert.strictEqual(yield* proxy.connections, 2)
    })
  )

  it.live("set - Reset resets open connections and every new one", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      const open = yield* connect(proxy.port)
      yield* roundTrip(open, payload)
      yield* proxy.set(FaultMode.reset)
      assert.strictEqual((yield* closed(open))?.code, "ECONNRESET")
      // The kernel completes the handshake before the proxy sees the
      // connection, so the reset shows either on connect or right after.
      const late = yield* Effect.exit(Effect.flatMap(connect(proxy.port), closed))
      const code = Exit.isSuccess(late) ? late.value?.code : Exit.isFailure(late) ? String(late.cause) : undefined
      assert.include(code, "ECONNRESET")
      assert.strictEqual(yield* proxy.connections, 0)
    })
  )

  it.live("set - Refuse makes connects fail with ECONNREFUSED and PassThrough reopens the same port", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      const open = yield* connect(proxy.port)
      yield* proxy.set(FaultMode.refuse)
      const refused = yield* Effect.flip(connect(proxy.port))
      assert.strictEqual(refused.code, "ECONNREFUSED")
      assert.deepStrictEqual(yield* roundTrip(open, payload), payload, "open connections keep working")
      yield* proxy.set(FaultMode.passThrough)
      const again = yield* connect(proxy.port)
      assert.deepStrictEqual(yield* roundTrip(again, payload), payload)
    })
  )

  it.live("set - PassThrough after Reset lets new connections through", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const proxy = yield* FaultProxy.make({ target })
      yield* proxy.set(FaultMode.reset)
      yield* proxy.set(FaultMode.passThrough)
      const socket = yield* connect(proxy.port)
      assert.deepStrictEqual(yield* roundTrip(socket, payload), payload)
      assert.strictEqual((yield* proxy.mode)._tag, "PassThrough")
    })
  )

  it.live("make - closing the scope closes open connections and the port", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const scope = yield* Scope.make()
      const proxy = yield* FaultProxy.make({ target }).pipe(Scope.provide(scope))
      const socket = yield* connect(proxy.port)
      yield* roundTrip(socket, payload)
      yield* Scope.close(scope, Exit.void)
      yield* closed(socket)
      const refused = yield* Effect.flip(connect(proxy.port))
      assert.strictEqual(refused.code, "ECONNREFUSED")
    })
  )

  it.live("make - fails with FaultProxyError when the port is taken", () =>
    Effect.gen(function* () {
      const target = yield* echoServer
      const error = yield* Effect.flip(FaultProxy.make({ target, port: target.port }))
      assert.strictEqual(error._tag, "FaultProxyError")
      assert.strictEqual(error.reason, "Listen")
      assert.include(error.message, `${host}:${target.port}`)
    })
  )

  it("FaultMode.latency - jitter defaults to zero", () => {
    const mode = FaultMode.latency("250 millis")
    assert.strictEqual(mode._tag, "Latency")
    if (mode._tag === "Latency") {
      assert.strictEqual(Duration.toMillis(mode.latency), 250)
      assert.strictEqual(Duration.toMillis(mode.jitter), 0)
    }
  })
})
