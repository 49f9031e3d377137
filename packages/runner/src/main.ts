/**
 * Process entry point of the `sluice` binary: runs the command tree with the
 * process arguments, the Node services, the process logger and the concise
 * error presenter. Errors are printed by the CLI layer, once.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer, Runtime } from "effect"
import { CliOutput } from "effect/cli"
import * as Sluice from "./cli/Sluice.ts"
import * as Log from "./Log.ts"

const MainLive = Layer.mergeAll(NodeServices.layer, Log.layerAuto, CliOutput.layerPresenter(Sluice.presenter))

// Long-running commands (broker, generate) end by SIGINT or SIGTERM, which
// interrupts the program; stopping as asked is success, not the default 130.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

NodeRuntime.runMain(Sluice.run(process.argv.slice(2)).pipe(Effect.provide(MainLive)), { teardown })
