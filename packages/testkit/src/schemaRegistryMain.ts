/**
 * Runs the embedded schema registry as a standalone process until SIGINT or
 * SIGTERM:
 *
 *   node packages/testkit/src/schemaRegistryMain.ts --port 8081 --data-dir ./registry
 *
 * Flags: --port, --host, --data-dir, --compatibility (the global level of a
 * fresh registry). Basic auth comes from SCHEMA_REGISTRY_USERNAME and
 * SCHEMA_REGISTRY_PASSWORD when both are set.
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"
import { Effect, Redacted } from "effect"
import * as SchemaRegistry from "./SchemaRegistry.ts"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8081" },
    host: { type: "string", default: "127.0.0.1" },
    "data-dir": { type: "string" },
    compatibility: { type: "string", default: "BACKWARD" }
  }
})

const levels: ReadonlyArray<string> = [
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE"
]
const compatibility = levels.find((level) => level === values.compatibility) as
  | SchemaRegistry.CompatibilityLevel
  | undefined
if (compatibility === undefined) {
  console.error(`--compatibility must be one of ${levels.join(", ")}`)
  process.exit(2)
}
const username = process.env.SCHEMA_REGISTRY_USERNAME
const password = process.env.SCHEMA_REGISTRY_PASSWORD

const options: SchemaRegistry.Options = {
  port: Number(values.port),
  host: values.host,
  compatibility,
  ...(values["data-dir"] === undefined ? {} : { dataDir: values["data-dir"] }),
  ...(username === undefined || password === undefined
    ? {}
    : { basicAuth: { username, password: Redacted.make(password) } })
}

Effect.runPromise(SchemaRegistry.serve(options)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
