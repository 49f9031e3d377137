/**
 * Readiness: whether this process should receive work. Components register
 * checks (Kafka reachable, database reachable, partitions assigned) for as
 * long as they live; `/readyz` reports ready only when every registered check
 * passes. A check that fails, dies or does not answer within its time limit
 * counts as failing, so one stuck dependency cannot hang the probe.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Layer, type Scope } from "effect"

/**
 * The result of one check.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  readonly detail?: string
}

/**
 * A readiness check: succeeds when ready; its failure message says why not.
 *
 * @since 0.1.0
 * @category models
 */
export type Check = Effect.Effect<void, unknown>

/**
 * The readiness service.
 *
 * @since 0.1.0
 * @category services
 */
export class Readiness extends Context.Service<
  Readiness,
  {
    /** Adds a check until the scope closes. Registering a name again replaces the check. */
    readonly register: (name: string, check: Check) => Effect.Effect<void, never, Scope.Scope>
    /** Runs every check concurrently. */
    readonly run: Effect.Effect<ReadonlyArray<CheckResult>>
  }
>()("@sluice/runner/Readiness") {}

const describeFailure = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/**
 * Builds the service; each check gets `timeout` to answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly timeout?: Duration.Input } = {}) =>
  Effect.sync(() => {
    const checks = new Map<string, { readonly check: Check }>()
    const timeout = Duration.fromInputUnsafe(options.timeout ?? "2 seconds")
    return Readiness.of({
      register: (name, check) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const entry = { check }
            checks.set(name, entry)
            return entry
          }),
          (entry) =>
            Effect.sync(() => {
              if (checks.get(name) === entry) checks.delete(name)
            })
        ).pipe(Effect.asVoid),
      run: Effect.suspend(() =>
        Effect.forEach(
          [...checks.entries()],
          ([name, { check }]) =>
            check.pipe(
              Effect.timeoutOrElse({
                duration: timeout,
                orElse: () => Effect.fail(`no answer within ${Duration.format(timeout)}`)
              }),
              Effect.matchCause({
                onSuccess: (): CheckResult => ({ name, ok: true }),
                onFailure: (cause): CheckResult => ({
                  name,
                  ok: false,
                  detail: describeFailure(Cause.squash(cause))
                })
              })
            ),
          { concurrency: "unbounded" }
        )
      )
    })
  })

/**
 * The readiness service as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Readiness> = Layer.effect(Readiness, make())

/**
 * Whether every result passed.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isReady = (results: ReadonlyArray<CheckResult>): boolean => results.every((r) => r.ok)
