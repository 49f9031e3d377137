/**
 * The socket plumbing behind `FaultProxy`: one `Link` per accepted client,
 * made of two one-way `Pipe`s. Everything here runs in node:net callbacks
 * and delays data with `setTimeout`. A proxy sees one event per TCP chunk,
 * and a fiber (plus a `Clock` sleep) per chunk would cost more than the
 * forwarding itself, so the Effect side only drives the lifecycle and the
 * mode, which it hands over through `currentMode`.
 */

import * as Net from "node:net"
import * as Duration from "effect/Duration"
import type { FaultMode } from "../FaultProxy.ts"

/** Past this many delayed bytes a pipe stops reading from its source. */
const highWaterMark = 1024 * 1024

/** Sends an RST when the socket is connected, and simply closes it otherwise. */
export const reset = (socket: Net.Socket): void => {
  if (socket.destroyed) return
  if (socket.connecting || socket.pending) socket.destroy()
  else socket.resetAndDestroy()
}

/** A queued chunk, or the end of the stream when `chunk` is `undefined`. */
interface Item {
  readonly chunk: Buffer | undefined
  ready: boolean
}

/**
 * One direction of a link. Chunks leave in the order they arrived: a delayed
 * chunk holds back every chunk behind it, even those that arrive after the
 * latency has been switched off, so the byte stream is never reordered.
 */
class Pipe {
  readonly source: Net.Socket
  readonly dest: Net.Socket
  readonly currentMode: () => FaultMode
  readonly queue: Array<Item> = []
  readonly timers = new Set<ReturnType<typeof setTimeout>>()
  queuedBytes = 0
  awaitingDrain = false
  ended = false

  constructor(source: Net.Socket, dest: Net.Socket, currentMode: () => FaultMode) {
    this.source = source
    this.dest = dest
    this.currentMode = currentMode
  }

  push(chunk: Buffer | undefined): void {
    if (this.ended) return
    const mode = this.currentMode()
    if (mode._tag === "Blackhole") return
    if (chunk === undefined) this.ended = true
    if (mode._tag === "Latency") {
      const item: Item = { chunk, ready: false }
      const delay = Duration.toMillis(mode.latency) + Math.random() * Duration.toMillis(mode.jitter)
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        item.ready = true
        this.flush()
      }, delay)
      this.timers.add(timer)
      this.enqueue(item)
    } else if (this.queue.length > 0) {
      this.enqueue({ chunk, ready: true })
    } else {
      this.write(chunk)
    }
  }

  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.queue.length = 0
    this.queuedBytes = 0
  }

  private enqueue(item: Item): void {
    this.queue.push(item)
    this.queuedBytes += item.chunk?.length ?? 0
    this.updateFlow()
  }

  private flush(): void {
    while (this.queue.length > 0 && this.queue[0]!.ready) {
      const item = this.queue.shift()!
      this.queuedBytes -= item.chunk?.length ?? 0
      this.write(item.chunk)
    }
    this.updateFlow()
  }

  private write(chunk: Buffer | undefined): void {
    if (this.dest.destroyed) return
    if (chunk === undefined) {
      this.dest.end()
      return
    }
    if (!this.dest.write(chunk) && !this.awaitingDrain) {
      this.awaitingDrain = true
      this.dest.once("drain", () => {
        this.awaitingDrain = false
        this.updateFlow()
      })
    }
    this.updateFlow()
  }

  private updateFlow(): void {
    if (this.source.destroyed) return
    if (this.awaitingDrain || this.queuedBytes > highWaterMark) this.source.pause()
    else this.source.resume()
  }
}

/**
 * A client connection and, unless it arrived while blackholed, its
 * connection to the target.
 */
class Link {
  readonly client: Net.Socket
  readonly upstream: Net.Socket | undefined
  readonly toUpstream: Pipe | undefined
  readonly toClient: Pipe | undefined

  constructor(client: Net.Socket, upstream: Net.Socket | undefined, currentMode: () => FaultMode) {
    this.client = client
    this.upstream = upstream
    if (upstream === undefined) {
      this.toUpstream = undefined
      this.toClient = undefined
      return
    }
    const toUpstream = new Pipe(client, upstream, currentMode)
    const toClient = new Pipe(upstream, client, currentMode)
    this.toUpstream = toUpstream
    this.toClient = toClient
    client.on("data", (chunk: Buffer) => toUpstream.push(chunk))
    client.on("end", () => toUpstream.push(undefined))
    upstream.on("data", (chunk: Buffer) => toClient.push(chunk))
    upstream.on("end", () => toClient.push(undefined))
    // A reset on one side is passed on as a reset, so that the peer sees the
    // same failure it would see without the proxy in between.
    client.on("error", () => reset(upstream))
    upstream.on("error", () => reset(client))
    upstream.on("close", () => toUpstream.dispose())
  }

  dispose(): void {
    this.toUpstream?.dispose()
    this.toClient?.dispose()
  }
}

/**
 * Tracks the open links of one proxy. `accept` is the listening socket's
 * connection handler; it decides what to do from the mode at that moment.
 */
export class Relay {
  readonly target: { readonly host: string; readonly port: number }
  readonly currentMode: () => FaultMode
  readonly links = new Set<Link>()
  /** Every socket not yet closed, target sides that outlive their client included. */
  readonly sockets = new Set<Net.Socket>()
  closed = false

  constructor(target: { readonly host: string; readonly port: number }, currentMode: () => FaultMode) {
    this.target = target
    this.currentMode = currentMode
  }

  get size(): number {
    return this.links.size
  }

  accept(client: Net.Socket): void {
    client.on("error", () => {})
    const mode = this.currentMode()
    if (this.closed || mode._tag === "Reset") {
      reset(client)
      return
    }
    let link: Link
    if (mode._tag === "Blackhole") {
      // Reads keep flowing so the client's writes succeed, and nothing ever
      // comes back; a client that closes its side is let go.
      link = new Link(client, undefined, this.currentMode)
      client.on("data", () => {})
      client.on("end", () => client.destroy())
    } else {
      const upstream = Net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true })
      upstream.on("error", () => {})
      upstream.setNoDelay(true)
      client.setNoDelay(true)
      this.track(upstream)
      link = new Link(client, upstream, this.currentMode)
    }
    this.track(client)
    this.links.add(link)
    client.on("close", () => {
      this.links.delete(link)
      link.toClient?.dispose()
      // Whatever the client sent is either written or queued ahead of its end
      // of stream; with nothing queued, the target side is finished now.
      const upstream = link.upstream
      if (upstream !== undefined && link.toUpstream?.queue.length === 0 && !upstream.writableEnded) upstream.end()
    })
  }

  /** Resets every open connection: used when switching to `Reset`. */
  resetAll(): void {
    for (const link of this.links) link.dispose()
    for (const socket of this.sockets) reset(socket)
    this.links.clear()
    this.sockets.clear()
  }

  /** Closes every open connection and resets new ones: used on release. */
  close(): void {
    this.closed = true
    for (const link of this.links) link.dispose()
    for (const socket of this.sockets) socket.destroy()
    this.links.clear()
    this.sockets.clear()
  }

  private track(socket: Net.Socket): void {
    this.sockets.add(socket)
    socket.on("close", () => this.sockets.delete(socket))
  }
}
