import dynalite from "dynalite"
import { Effect, Redacted } from "effect"
import * as DynamoDbSink from "../../src/DynamoDbSink.ts"

/** An in-memory dynalite on a free loopback port, closed with the scope. */
export const startDynalite = Effect.acquireRelease(
  Effect.callback<{ readonly endpoint: string; readonly close: () => void }>((resume) => {
    const server = dynalite({ createTableMs: 20, deleteTableMs: 0, updateTableMs: 0 })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(
        Effect.succeed({
          endpoint: `http://127.0.0.1:${port}`,
          close: () => {
            server.close()
            server.closeAllConnections()
          }
        })
      )
    })
  }),
  (d) => Effect.sync(d.close)
)

/** Clients on a fresh dynalite, with dummy static credentials. */
export const dynaliteClient = (tablePrefix?: string) =>
  Effect.flatMap(startDynalite, ({ endpoint }) =>
    DynamoDbSink.makeClient({
      region: "us-east-1",
      endpoint,
      ...(tablePrefix === undefined ? {} : { tablePrefix }),
      credentials: { accessKeyId: "test", secretAccessKey: Redacted.make("test") }
    })
  )
