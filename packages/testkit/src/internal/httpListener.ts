import * as Http from "node:http"
import { Effect } from "effect"
import { TestkitError } from "../TestkitError.ts"

export type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

// Reads a request body whole; the fake services only take small JSON bodies.
export const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const parts: Array<Buffer> = []
    request.on("data", (part: Buffer) => parts.push(part))
    request.on("end", () => resolve(Buffer.concat(parts).toString("utf8")))
    request.on("error", reject)
  })

export const listen = (handler: Handler, host: string, port: number): Effect.Effect<Http.Server, TestkitError> =>
  Effect.callback<Http.Server, TestkitError>((resume) => {
    const server = Http.createServer({ keepAliveTimeout: 5_000 }, handler)
    server.once("error", (cause) =>
      resume(Effect.fail(new TestkitError({ reason: "Listen", message: `cannot listen on ${host}:${port}`, cause })))
    )
    server.listen({ host, port }, () => {
      server.removeAllListeners("error")
      server.on("error", () => {})
      resume(Effect.succeed(server))
    })
    return Effect.sync(() => server.close())
  })

export const portOf = (server: Http.Server, fallback: number): number => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : fallback
}

// Stops listening and drops every open connection, stalled requests included,
// so closing a scope never waits for a client.
export const shut = (server: Http.Server): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })
