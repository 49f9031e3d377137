/**
 * The `sluice` command tree. Only commands that work today are registered;
 * the others are listed here with their flags (all defined in `Flags.ts`) so
 * adding one is a `Command.make` with these flags and a handler.
 *
 * ```
 * sluice config                          print the resolved configuration        [registered]
 * sluice claims enrich                   payment-events → enriched/failed/dlq   [registered]
 *     <settingFlags> --concurrency --ordering ordered|key|unordered
 *     --cache-size --cache-ttl --cache-miss-ttl --lookup-timeout
 *     --retry-attempts --retry-backoff
 *     --breaker-threshold --breaker-window --breaker-cooldown
 *     --on-db-unavailable route|pause
 * sluice claims large                    enriched-payments → large-claims       [registered]
 *     <settingFlags> --threshold --concurrency
 * sluice generate                        payment events into the input topic     [registered]
 *     <settingFlags> --events-per-second --valid-claim-rate --invalid-rate
 *     --claims --seed --partitions (--duration | --count)
 * sluice db migrate                      create the claims table                 [registered]
 *     --database-url
 * sluice db seed                         insert CLM-000001..CLM-<claims>         [registered]
 *     --database-url --claims --seed
 * sluice broker                          embedded Kafka-protocol broker          [registered]
 *     --port --data-dir
 * sluice replay                          failed DB_ERROR/DB_TIMEOUT → enrich again  [registered]
 *     <settingFlags> and the enrich flags but --on-db-unavailable; --follow --replay-group
 * sluice demo                            broker + database + seed + generator + both jobs + dashboard  [registered]
 *     --metrics-port --events-per-second --valid-claim-rate --invalid-rate
 *     --claims --data-dir (--duration | --count) and the enrich flags
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
import * as ClaimsCommand from "./ClaimsCommand.ts"
import * as ConfigCommand from "./ConfigCommand.ts"
import * as DbCommand from "./DbCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as GenerateCommand from "./GenerateCommand.ts"
import * as ReplayCommand from "./ReplayCommand.ts"

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("sluice").pipe(
  Command.withDescription("Kafka stream jobs on Effect: claims enrichment, generator, dashboard"),
  Command.withSubcommands([
    ConfigCommand.command,
    ClaimsCommand.command,
    ReplayCommand.command,
    DbCommand.command,
    GenerateCommand.command,
    BrokerCommand.command,
    DemoCommand.command
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

/**
 * Runs the CLI with the given arguments (without the node and script paths).
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.runWith(root, { version: "0.1.0" })
