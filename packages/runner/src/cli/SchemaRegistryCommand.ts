/**
 * `sluice schema-registry`: runs the embedded schema registry from the test
 * kit as a process of its own, the registry counterpart of `sluice broker`,
 * so Avro topics can be tried without a registry server. It prints its URL
 * once it listens (point `SCHEMA_REGISTRY_URL` at it) and runs until SIGINT
 * or SIGTERM. With `--data-dir` its schemas, ids and versions survive a
 * restart; `--compatibility` is the global level of a fresh registry. When
 * `SCHEMA_REGISTRY_USERNAME` and `SCHEMA_REGISTRY_PASSWORD` are both set,
 * every request needs them (basic auth), as clients configured with the same
 * variables send them.
 *
 * @since 0.1.0
 */
import { Config, Console, Effect, Option } from "effect"
import { Command } from "effect/cli"
import * as Flags from "../Flags.ts"
import * as Parse from "../Parse.ts"
import { RunnerError, Startup } from "../RunnerError.ts"

const levels = [
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE"
] as const

/**
 * Port of the registry; 8081, the registry's usual port, by default.
 *
 * @since 0.1.0
 * @category flags
 */
export const port = Flags.parsed("port", Parse.port, "Port to listen on (0 picks a free port)").pipe(
  Flags.withDefault(8081, "8081")
)

/**
 * The global compatibility level of a fresh registry.
 *
 * @since 0.1.0
 * @category flags
 */
export const compatibility = Flags.parsed(
  "compatibility",
  Parse.oneOf(levels),
  "Global compatibility level of a fresh registry"
).pipe(Flags.withDefault<(typeof levels)[number]>("BACKWARD", "BACKWARD"))

// Both or neither: a registry with half its credentials would refuse everyone.
const basicAuth = Config.all({
  username: Config.option(Config.String("SCHEMA_REGISTRY_USERNAME")),
  password: Config.option(Config.Redacted("SCHEMA_REGISTRY_PASSWORD"))
})

// The first `code` (EADDRINUSE, EACCES...) along an error's causes.
const codeOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

const startup = (detail: string, settings: string) => new RunnerError({ reason: new Startup({ detail, settings }) })

/**
 * The `schema-registry` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("schema-registry", { port, dataDir: Flags.dataDir, compatibility }, (flags) =>
  Effect.gen(function* () {
    const auth = yield* basicAuth.pipe(
      Effect.mapError((error) =>
        startup(`a registry setting is invalid: ${error.message.replace(/\s*\n\s*/g, " ")}`, "SCHEMA_REGISTRY_*")
      )
    )
    // The test kit is loaded by the commands that use it, not by every start-up.
    const { SchemaRegistry } = yield* Effect.promise(() => import("@sluice/testkit"))
    const registry = yield* SchemaRegistry.make({
      port: flags.port,
      compatibility: flags.compatibility,
      ...Option.match(flags.dataDir, { onNone: () => ({}), onSome: (dataDir) => ({ dataDir }) }),
      ...(Option.isSome(auth.username) && Option.isSome(auth.password)
        ? { basicAuth: { username: auth.username.value, password: auth.password.value } }
        : {})
    }).pipe(
      Effect.mapError((error) => {
        if (error.reason === "Storage") {
          const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
          return startup(`${error.message}${cause}`, "--data-dir")
        }
        const code = codeOf(error)
        return startup(
          code === "EADDRINUSE"
            ? `port ${flags.port} is already in use`
            : `the schema registry cannot listen on port ${flags.port}${code === undefined ? "" : ` (${code})`}`,
          "--port"
        )
      })
    )
    yield* Console.log(`schema registry listening on ${registry.url}`)
    // The process signal interrupts this; the scope then stops the registry.
    return yield* Effect.never
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Run the embedded schema registry until SIGINT or SIGTERM"))
