/**
 * The `sluice cdc` command group: `migrate`, `generate`, `capture`, `route`.
 *
 * @since 0.1.0
 */
import { Command } from "effect/cli"
import * as CaptureCommand from "./CaptureCommand.ts"
import * as GenerateCommand from "./GenerateCommand.ts"
import * as MigrateCommand from "./MigrateCommand.ts"
import * as RouteCommand from "./RouteCommand.ts"

/**
 * `sluice cdc`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("cdc").pipe(
  Command.withDescription("Change data capture from PostgreSQL and rule-based routing (seed 003)"),
  Command.withSubcommands([
    MigrateCommand.command,
    GenerateCommand.command,
    CaptureCommand.command,
    RouteCommand.command
  ])
)
