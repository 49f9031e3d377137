/**
 * Process entry point of the `sluice` binary: runs the command tree with the
 * process arguments, the Node services, the process logger and the concise
 * error presenter. Errors are printed by the CLI layer, once.
 *
 * @since 0.1.0
 */
// Module paths, not the package index: the index also loads the Redis
// client and everything else the platform offers, which no command needs.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Exit, Layer, Runtime } from "effect"
import { CliOutput } from "effect/cli"
import * as Sluice from "./cli/Sluice.ts"
import * as Log from "./Log.ts"

// A failed command (a bad setting, a start-up check) says what is wrong in
// its own words, one line per problem, with no banner around it.
const formatter: CliOutput.Formatter = {
  ...CliOutput.defaultFormatter(),
  formatError: (error) => error.message
}

const MainLive = Layer.mergeAll(
  NodeServices.layer,
  Log.layerAuto,
  CliOutput.layer(formatter),
  CliOutput.layerPresenter(Sluice.presenter)
)

// SIGINT and SIGTERM interrupt the main fiber: every scope closes (fetching
// stops, done offsets are committed, connections close), and that requested
// stop is a success (exit 0), not the 130 an interrupted program reports.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Sluice.run(process.argv.slice(2)).pipe(Effect.provide(MainLive), NodeRuntime.runMain({ teardown }))
