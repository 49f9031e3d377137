/**
 * `sluice config`: prints the job configuration as resolved from flags,
 * environment variables and defaults, with the database credentials hidden.
 * Useful to check what a deployment will run with before starting it.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import * as Config from "../Config.ts"
import { settingFlags } from "./Flags.ts"

/**
 * The `config` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("config", settingFlags, (flags) =>
  Effect.gen(function* () {
    const config = yield* Config.load(flags)
    yield* Console.log(JSON.stringify(Config.toDisplay(config), null, 2))
  })
).pipe(Command.withDescription("Print the resolved job configuration (secrets hidden)"))
