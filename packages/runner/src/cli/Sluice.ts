/**
 * The `sluice` command tree: the commands every job shares (`config`,
 * `broker`, `demo`) and the commands each registered job brings (see
 * `Jobs.ts` and `Job`). This module parses and dispatches; it knows no job.
 *
 * ```
 * sluice config                          print the resolved configuration of every job
 * sluice broker                          embedded Kafka-protocol broker
 *     --port --data-dir --partitions
 * sluice schema-registry                 embedded schema registry
 *     --port --data-dir --compatibility
 * sluice demo                            the job's demo (sluice demo <job> with several jobs)
 * sluice <job command> …                 what the jobs register, e.g. claims enrich|large,
 *                                        replay, generate, db migrate|seed (jobs/claims/)
 * ```
 *
 * Every job command serves `/metrics`, `/healthz`, `/readyz` and the
 * dashboard on `--metrics-port` (see `http/ObservabilityServer`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { CliOutput, Command } from "effect/cli"
import * as BrokerCommand from "./BrokerCommand.ts"
import * as ConfigCommand from "./ConfigCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as Jobs from "./Jobs.ts"
import * as SchemaRegistryCommand from "./SchemaRegistryCommand.ts"

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("sluice").pipe(
  Command.withDescription(`Kafka stream jobs on Effect: ${Jobs.all.map((job) => job.description).join("; ")}`),
  Command.withSubcommands([
    ConfigCommand.make(Jobs.all),
    ...Jobs.all.flatMap((job) => job.commands),
    BrokerCommand.command,
    SchemaRegistryCommand.command,
    DemoCommand.make(Jobs.all)
  ])
)

/**
 * Prints invalid invocations as their error messages and a pointer to
 * `--help`, instead of the whole usage text, so the one line that matters
 * is the one a person (or a log collector) sees.
 *
 * @since 0.1.0
 * @category presenters
 */
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.gen(function* () {
          const formatter = yield* CliOutput.Formatter
          yield* Effect.sync(() => {
            process.stderr.write(`${formatter.formatErrors(event.errors)}\n`)
            process.stderr.write(`Run "${["sluice", ...event.commandPath.slice(1), "--help"].join(" ")}" for usage.\n`)
          })
        })
      : CliOutput.defaultPresenter.present(event)
}

// Jobs register their commands as `Command.Any` (a command's name is part of
// its type, so a list of several cannot be typed more precisely), which loses
// their services; every job command needs only the platform's, which
// `main.ts` provides.
const runRoot = Command.runWith(root, { version: "0.1.0" })

/**
 * Runs the CLI with the given arguments (without the node and script paths).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<void, unknown, Command.Environment> =>
  runRoot(args) as Effect.Effect<void, unknown, Command.Environment>
