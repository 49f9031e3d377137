/**
 * The rules currently in force, from a rule file that is watched for changes.
 *
 * The file is loaded and every rule compiled when the service starts; an
 * invalid file fails the start with a one-line `RulesError`. Afterwards the
 * file is read again every `pollInterval` (1 second by default, on the
 * `Clock`, so `TestClock` drives it): a changed file that compiles replaces
 * the rules and applies from the next record routed; a changed file that does
 * not compile (or cannot be read) keeps the old rules, is logged as a warning
 * with the reason, and counted in `sluice_rules_reloads_total{outcome="invalid"}`.
 *
 * Polling was chosen over `fs.watch` because files replaced by rename, bind
 * mounts and network file systems do not reliably deliver watch events, and
 * because a schedule on the `Clock` is testable; reading a small file once a
 * second costs nothing.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, type Scope } from "effect"
import { readText, watch } from "./internal/watch.ts"
import * as Router from "./Router.ts"
import * as RuleFile from "./RuleFile.ts"
import type { RulesError } from "./RulesError.ts"
import type * as Shape from "./Shape.ts"

/**
 * The rule set service.
 *
 * @since 0.1.0
 * @category services
 */
export class RuleSet extends Context.Service<
  RuleSet,
  {
    /** The rules in force now; read it once per batch to route a batch under one version. */
    readonly current: Effect.Effect<RuleFile.Rules>
    /** Reloads applied since the start. */
    readonly version: Effect.Effect<number>
    /** The rules in force and their version, read together (for outputs that name the version). */
    readonly snapshot: Effect.Effect<{ readonly rules: RuleFile.Rules; readonly version: number }>
    readonly route: (record: Router.Record) => Effect.Effect<Router.Outcome>
    readonly routeAll: (records: ReadonlyArray<Router.Record>) => Effect.Effect<Array<Router.Outcome>>
  }
>()("@sluice/rules/RuleSet") {}

/**
 * Where the rules come from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name in messages and metrics; the path for `make`. */
  readonly source: string
  readonly shape: Shape.Shape
  /** How often the file is read again; default 1 second. */
  readonly pollInterval?: Duration.Input
}

/**
 * A rule set whose text comes from `read`, an effect that returns the current
 * text (a file, a configuration store, a `Ref` in tests).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSource = (
  options: Options & { readonly read: Effect.Effect<string, RulesError> }
): Effect.Effect<RuleSet["Service"], RulesError, Scope.Scope> =>
  Effect.gen(function* () {
    const watched = yield* watch({
      source: options.source,
      read: options.read,
      compile: (text) => RuleFile.parseResult(options.source, text, options.shape),
      interval: options.pollInterval ?? "1 second"
    })
    return RuleSet.of({
      current: watched.current,
      version: watched.version,
      snapshot: Effect.map(watched.snapshot, (s) => ({ rules: s.value, version: s.version })),
      route: (record) => Effect.flatMap(watched.current, (rules) => Router.route(rules, record)),
      routeAll: (records) => Effect.flatMap(watched.current, (rules) => Router.routeAll(rules, records))
    })
  })

/**
 * A rule set read from the file at `options.source`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<RuleSet["Service"], RulesError, Scope.Scope> =>
  fromSource({ ...options, read: readText(options.source) })

/**
 * Provides `RuleSet` from a rule file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RuleSet, RulesError> => Layer.effect(RuleSet, make(options))
