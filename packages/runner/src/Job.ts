/**
 * A job is a module: everything one job needs lives in its folder under
 * `jobs/`, and this is the one small interface through which it plugs into the
 * `sluice` CLI. The CLI registers every job once (`cli/Jobs.ts`) and builds
 * its command tree, `sluice config` and `sluice demo` from what the jobs
 * declare; the observability server shows the dashboard a running command
 * hands it (`dashboard`).
 *
 * The CLI registers a job as an `Entry`, which names its commands and loads
 * its module on demand: a process that runs one job's command never loads
 * the other jobs' modules and their dependencies, whose code and data would
 * otherwise stay on the heap that every major collection marks.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type { Command } from "effect/cli"
import type * as Config from "./Config.ts"
import type * as Dashboard from "./http/Dashboard.ts"
import type { RunnerError } from "./RunnerError.ts"

/**
 * A job as the CLI sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Job {
  /** The job's name, e.g. `claims`; `sluice demo <name>` once there are several jobs. */
  readonly name: string
  /** One line for `sluice --help`. */
  readonly description: string
  /** The job's top-level commands (`sluice <command> …`). */
  readonly commands: ReadonlyArray<Command.Command.Any>
  /** The job's zero-infrastructure demo, as a command called `name`; a job may have none yet. */
  readonly demo?: ((name: string) => Command.Command.Any) | undefined
  /** The job's configuration settings, and how `sluice config` shows them resolved. */
  readonly config: {
    readonly settings: Config.Settings
    readonly display: (overrides: Config.Overrides<Config.Settings>) => Effect.Effect<object, RunnerError>
  }
  /** What the dashboard shows while the job runs. */
  readonly dashboard: Dashboard.Spec
}

/**
 * Declares a job.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (job: Job): Job => job

/**
 * A job as the CLI registers it before loading it: enough to know which
 * command line needs it, and how to load it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  /** The job's name, as its `Job` declares it. */
  readonly name: string
  /** One line for `sluice --help`, as its `Job` declares it. */
  readonly description: string
  /** The names of the job's top-level commands, those its `Job`'s `commands` declare. */
  readonly commands: ReadonlyArray<string>
  /** Imports the job's module (a dynamic `import`, so nothing is loaded before a command needs it). */
  readonly load: () => Promise<Job>
}

/**
 * Registers a job by the names of its commands and how to load it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const entry = (entry: Entry): Entry => entry
