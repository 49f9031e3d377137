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
 * The tree is built for the command line it runs: a job's command loads
 * that job alone, `broker` and `schema-registry` no job, and the rest
 * (`--help`, `config`, `demo`, a mistyped command) every job (`needs`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { CliOutput, Command } from "effect/cli"
import type * as Job from "../Job.ts"
import * as BrokerCommand from "./BrokerCommand.ts"
import * as ConfigCommand from "./ConfigCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as Jobs from "./Jobs.ts"
import * as SchemaRegistryCommand from "./SchemaRegistryCommand.ts"

/**
 * The root command over the given (loaded) jobs; its description names every
 * registered job, loaded or not.
 *
 * @since 0.1.0
 * @category commands
 */
export const make = (jobs: ReadonlyArray<Job.Job>) =>
  Command.make("sluice").pipe(
    Command.withDescription(`Kafka stream jobs on Effect: ${Jobs.all.map((job) => job.description).join("; ")}`),
    Command.withSubcommands([
      ConfigCommand.make(jobs),
      ...jobs.flatMap((job) => job.commands),
      BrokerCommand.command,
      SchemaRegistryCommand.command,
      // Without jobs (`broker`, `schema-registry`) there is no demo to offer.
      ...(jobs.some((job) => job.demo !== undefined) ? [DemoCommand.make(jobs)] : [])
    ])
  )

// The shared commands that need no job.
const jobless: ReadonlySet<string> = new Set([BrokerCommand.command.name, SchemaRegistryCommand.command.name])

/**
 * The registered jobs a command line needs: the job owning the first
 * top-level command it names, none for a command that needs no job, and
 * every job otherwise (the root's help, `config`, `demo`, shell completions,
 * an unknown command, whose message lists the commands there are). The
 * values of the global flags that may come before the command (`--log-level`,
 * `--completions`) are never command names, so the first argument that is one
 * is the command.
 *
 * @since 0.1.0
 * @category running
 */
export const needs = (args: ReadonlyArray<string>): ReadonlyArray<Job.Entry> => {
  if (args.includes("--completions")) return Jobs.all
  for (const arg of args) {
    if (jobless.has(arg)) return []
    const owner = Jobs.all.find((job) => job.commands.includes(arg))
    if (owner !== undefined) return [owner]
    if (arg === "config" || arg === "demo") return Jobs.all
  }
  return Jobs.all
}

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

/**
 * Runs the CLI with the given arguments (without the node and script paths),
 * having loaded the jobs they need.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<void, unknown, Command.Environment> =>
  Effect.gen(function* () {
    const jobs = yield* Effect.promise(() => Promise.all(needs(args).map((entry) => entry.load())))
    // Jobs register their commands as `Command.Any` (a command's name is part
    // of its type, so a list of several cannot be typed more precisely), which
    // loses their services; every job command needs only the platform's,
    // which `main.ts` provides.
    yield* Command.runWith(make(jobs), { version: "0.1.0" })(args) as Effect.Effect<void, unknown, Command.Environment>
  })
