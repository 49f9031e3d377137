/**
 * One client connection: frame reassembly, in-order request processing and
 * response writing, on plain `node:net` callbacks. An Effect fiber per request
 * would add scheduling and allocation to a path that runs for every produce
 * and fetch; the broker's lifecycle, configuration and public API stay in
 * Effect.
 *
 * Requests on a connection are handled one at a time, as Kafka does: while a
 * fetch or join is parked, later frames wait in a bounded queue (the socket is
 * paused when it fills). Malformed frames close only this connection.
 */
import type { Socket } from "node:net"
import { ApiKey, isFlexible, isKnownKey, isSupported } from "../protocol/apiKeys.ts"
import * as Header from "../protocol/header.ts"
import { Reader } from "../protocol/reader.ts"
import { Writer } from "../protocol/writer.ts"
import { type BrokerContext, handlers } from "./handlers.ts"

const MAX_QUEUED_FRAMES = 64

export class Connection {
  private readonly socket: Socket
  private readonly broker: BrokerContext
  private readonly maxRequestBytes: number
  private readonly clientHost: string
  private pending: Array<Buffer> = []
  private pendingLength = 0
  private frameSize = -1
  private readonly queue: Array<Buffer> = []
  private busy = false
  private pumping = false
  private closed = false
  private cancels: Array<() => void> = []

  constructor(socket: Socket, broker: BrokerContext, maxRequestBytes: number) {
    this.socket = socket
    this.broker = broker
    this.maxRequestBytes = maxRequestBytes
    this.clientHost = `/${socket.remoteAddress ?? "unknown"}`
    socket.setNoDelay(true)
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("error", () => this.close())
    socket.on("close", () => this.close())
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    const cancels = this.cancels
    this.cancels = []
    for (const c of cancels) c()
    this.queue.length = 0
    this.pending = []
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return
    this.pending.push(chunk)
    this.pendingLength += chunk.length
    for (;;) {
      if (this.frameSize < 0) {
        if (this.pendingLength < 4) break
        if (this.pending[0]!.length < 4) this.pending = [Buffer.concat(this.pending, this.pendingLength)]
        const size = this.pending[0]!.readInt32BE(0)
        if (size < 8 || size > this.maxRequestBytes) {
          this.close()
          return
        }
        this.frameSize = size
      }
      if (this.pendingLength < 4 + this.frameSize) break
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength)
      this.queue.push(all.subarray(4, 4 + this.frameSize))
      const rest = all.subarray(4 + this.frameSize)
      this.pending = rest.length > 0 ? [rest] : []
      this.pendingLength = rest.length
      this.frameSize = -1
    }
    if (this.queue.length >= MAX_QUEUED_FRAMES) this.socket.pause()
    this.pump()
  }

  private pump(): void {
    // A loop, not recursion: synchronous replies would otherwise nest one frame deeper each.
    if (this.pumping) return
    this.pumping = true
    while (!this.busy && !this.closed && this.queue.length > 0) {
      this.busy = true
      this.dispatch(this.queue.shift()!)
    }
    this.pumping = false
    if (!this.closed && this.queue.length < MAX_QUEUED_FRAMES / 2 && this.socket.isPaused()) this.socket.resume()
  }

  private dispatch(frame: Buffer): void {
    const r = new Reader(frame)
    try {
      const prefix = Header.readHeaderPrefix(r)
      if (!isKnownKey(prefix.apiKey)) {
        this.close()
        return
      }
      if (!isSupported(prefix.apiKey, prefix.apiVersion)) {
        // KIP-511: answer an unknown ApiVersions version with a v0 body listing what we speak.
        if (prefix.apiKey !== ApiKey.ApiVersions) {
          this.close()
          return
        }
        const w = new Writer(512)
        Header.encodeApiVersions(w, 0, 35)
        this.send(prefix.correlationId, [w.toBuffer()])
        return
      }
      const header = Header.readHeaderRest(r, prefix)
      this.broker.requestCounts.set(header.apiKey, (this.broker.requestCounts.get(header.apiKey) ?? 0) + 1)
      const handler = handlers.get(header.apiKey)!
      let replied = false
      let cancelOnClose: (() => void) | null = null
      handler(
        this.broker,
        r,
        {
          header,
          clientHost: this.clientHost,
          onClose: (cancel) => {
            cancelOnClose = cancel
            this.cancels.push(cancel)
          }
        },
        (body) => {
          if (replied || this.closed) return
          replied = true
          if (cancelOnClose !== null) {
            const i = this.cancels.indexOf(cancelOnClose)
            if (i >= 0) this.cancels.splice(i, 1)
          }
          if (body === null) this.done()
          // Flexible responses use header v1 (an empty tagged-field section); ApiVersions always uses v0.
          else
            this.send(
              header.correlationId,
              body,
              header.apiKey !== ApiKey.ApiVersions && isFlexible(header.apiKey, header.apiVersion)
            )
        }
      )
    } catch {
      // Truncated or inconsistent frame: the connection's state is unknown, so drop it.
      this.close()
    }
  }

  private send(correlationId: number, body: ReadonlyArray<Buffer>, flexible = false): void {
    if (this.closed) return
    let size = flexible ? 5 : 4
    for (const b of body) size += b.length
    const head = Buffer.allocUnsafe(flexible ? 9 : 8)
    head.writeInt32BE(size, 0)
    head.writeInt32BE(correlationId, 4)
    if (flexible) head[8] = 0
    if (body.length === 1 && body[0]!.length < 16384) {
      this.socket.write(Buffer.concat([head, body[0]!], size + 4))
    } else {
      this.socket.cork()
      this.socket.write(head)
      for (const b of body) this.socket.write(b)
      this.socket.uncork()
    }
    this.done()
  }

  private done(): void {
    this.busy = false
    this.pump()
  }
}
