/**
 * Flag helpers of the `sluice` commands and the flags several jobs share.
 * Values are parsed by the same parsers as the environment variables, so
 * `5s` means the same in `--lookup-timeout 5s` and in a variable. A job's own
 * flags live in its folder, built with these helpers.
 *
 * Configuration flags (see `Config`) stay raw and optional, because
 * `Config.load` decides between flag, variable and default. The other flags
 * tune one command and have plain defaults.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import { Flag } from "effect/cli"
import type * as Config from "./Config.ts"
import * as Parse from "./Parse.ts"

/**
 * A string flag parsed by `parser`; a bad value is reported with the phrase the
 * parser gives.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parsed = <A>(name: string, parser: Parse.Parser<A>, description: string): Flag.Flag<A> =>
  Flag.String(name).pipe(
    Flag.withDescription(description),
    Flag.filterMap(
      (text) => {
        const r = parser(text)
        return r.ok ? Option.some(r.value) : Option.none()
      },
      (text) => {
        const r = parser(text)
        return r.ok ? "" : r.expected
      }
    )
  )

/**
 * A default value and how `--help` shows it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withDefault =
  <A>(value: A, shown: string) =>
  (flag: Flag.Flag<A>): Flag.Flag<A> =>
    flag.pipe(Flag.withDefault(value), Flag.withMetavar(shown))

/**
 * The raw, optional flag of a configuration setting: `Config.load` decides
 * between flag, variable and default.
 *
 * @since 0.1.0
 * @category constructors
 */
export const settingFlag = <A>(s: Config.Setting<A>): Flag.Flag<Option.Option<string>> =>
  Flag.String(s.flag).pipe(Flag.withDescription(`${s.description} (env ${s.env})`), Flag.optional)

/**
 * The raw flags of a record of settings, by the same names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const settingFlags = <S extends Config.Settings>(
  settings: S
): { readonly [K in keyof S]: Flag.Flag<Option.Option<string>> } => {
  const flags: Record<string, Flag.Flag<Option.Option<string>>> = {}
  for (const [name, s] of Object.entries(settings)) flags[name] = settingFlag(s)
  return flags as { readonly [K in keyof S]: Flag.Flag<Option.Option<string>> }
}

/**
 * Stop after this long.
 *
 * @since 0.1.0
 * @category flags
 */
export const duration = parsed("duration", Parse.duration, "Stop after this long").pipe(Flag.optional)

/**
 * Stop after this many records.
 *
 * @since 0.1.0
 * @category flags
 */
export const count = parsed("count", Parse.int(1), "Stop after this many records").pipe(Flag.optional)

/**
 * Port of a server the command starts (the embedded broker).
 *
 * @since 0.1.0
 * @category flags
 */
export const port = parsed("port", Parse.port, "Port to listen on (0 picks a free port)").pipe(
  withDefault(9092, "9092")
)

/**
 * Directory of embedded state (broker log, embedded database).
 *
 * @since 0.1.0
 * @category flags
 */
export const dataDir = Flag.Directory("data-dir").pipe(
  Flag.withDescription("Directory of embedded state (broker log, embedded database)"),
  Flag.optional
)

/**
 * Partitions of a topic the command creates when it does not exist.
 *
 * @since 0.1.0
 * @category flags
 */
export const partitions = parsed("partitions", Parse.int(1, 10_000), "Partitions of the topic if it is created").pipe(
  withDefault(6, "6")
)
