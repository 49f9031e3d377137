/**
 * `--processing-guarantee` (env `PROCESSING_GUARANTEE`) of the jobs that read
 * and write Kafka:
 *
 * - `at-least-once` (the default): the consumer commits offsets once outputs
 *   are acknowledged; a crash replays the records after the last commit, so
 *   an output may be written twice.
 * - `exactly-once`: outputs and input offsets commit together in Kafka
 *   transactions (`@sluice/kafka` `Transactions`), every 100 ms; a
 *   `read_committed` reader of the outputs sees each output once, whatever
 *   crashes. Readers that read uncommitted data still see aborted outputs.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as Config from "./Config.ts"
import * as Flags from "./Flags.ts"
import * as Parse from "./Parse.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type ProcessingGuarantee = "at-least-once" | "exactly-once"

/**
 * The setting, flag and variable.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  processingGuarantee: Config.setting(
    "PROCESSING_GUARANTEE",
    "processing-guarantee",
    "at-least-once, or exactly-once (Kafka transactions; readers of the outputs must read read_committed)",
    Parse.oneOf(["at-least-once", "exactly-once"]),
    "at-least-once"
  )
} as const

/**
 * `--processing-guarantee`.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = Flags.settingFlags(settings)

/**
 * The guarantee from the flag, then the environment; a bad value fails with
 * the setting's one-line error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}) =>
  Effect.map(
    Config.load(settings, overrides),
    (v): ProcessingGuarantee => Option.getOrElse(v.processingGuarantee, () => "at-least-once" as const)
  )
