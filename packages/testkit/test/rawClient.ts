/** A minimal Kafka-protocol client for tests that need to control individual frames. */
import * as net from "node:net"
import { Writer } from "../src/internal/protocol/writer.ts"

export interface RawClient {
  /** Sends one request and resolves with the response body (after the correlation id). */
  readonly request: (apiKey: number, version: number, body: (w: Writer) => void) => Promise<Buffer>
  readonly writeRaw: (bytes: Buffer) => void
  readonly closed: Promise<void>
  readonly close: () => void
}

export const connectRaw = (port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      let buffered = Buffer.alloc(0)
      let nextId = 1
      const waiting = new Map<number, (b: Buffer) => void>()
      socket.on("data", (chunk) => {
        buffered = Buffer.concat([buffered, chunk])
        while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
          const size = buffered.readInt32BE(0)
          const frame = buffered.subarray(4, 4 + size)
          buffered = buffered.subarray(4 + size)
          const id = frame.readInt32BE(0)
          waiting.get(id)?.(frame.subarray(4))
          waiting.delete(id)
        }
      })
      const closed = new Promise<void>((res) => socket.on("close", () => res()))
      socket.on("error", () => {})
      resolve({
        request: (apiKey, version, body) =>
          new Promise<Buffer>((res, rej) => {
            const id = nextId++
            const w = new Writer(256)
            w.int32(0).int16(apiKey).int16(version).int32(id).nullableString("raw-test")
            body(w)
            const frame = w.toBuffer()
            frame.writeInt32BE(frame.length - 4, 0)
            waiting.set(id, res)
            socket.once("close", () => rej(new Error("connection closed")))
            socket.write(frame)
          }),
        writeRaw: (bytes) => {
          socket.write(bytes)
        },
        closed,
        close: () => socket.destroy()
      })
    })
    socket.once("error", reject)
  })
