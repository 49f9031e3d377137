// A value compiled from a text file and kept current: the file is read again
// on a fixed schedule and recompiled when its text changed.
//
// Polling instead of fs.watch: editors and deploy tools replace files by
// rename (the watched inode disappears), bind mounts and network file systems
// often deliver no events at all, and a Schedule on the Clock lets TestClock
// drive the check. Comparing the text rather than the mtime also sees a change
// made within the file system's timestamp granularity. A rule file is a few
// kilobytes, so one read per interval costs nothing.
import { readFile } from "node:fs/promises"
import { type Duration, Effect, Metric, Ref, Result, Schedule, type Scope } from "effect"
import { InvalidRuleFile, RulesError } from "../RulesError.ts"
import * as RulesMetrics from "../RulesMetrics.ts"

export interface Watched<A> {
  readonly current: Effect.Effect<A>
  /** Changes applied since the start (0 until the first reload). */
  readonly version: Effect.Effect<number>
  /** The value and its version, read together. */
  readonly snapshot: Effect.Effect<{ readonly value: A; readonly version: number }>
}

export const readText = (path: string): Effect.Effect<string, RulesError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new RulesError({
        reason: new InvalidRuleFile({
          source: path,
          detail: `cannot read the file: ${cause instanceof Error ? cause.message : String(cause)}`
        })
      })
  })

export const watch = <A>(options: {
  readonly source: string
  readonly read: Effect.Effect<string, RulesError>
  readonly compile: (text: string) => Result.Result<A, RulesError>
  readonly interval: Duration.Input
}): Effect.Effect<Watched<A>, RulesError, Scope.Scope> =>
  Effect.gen(function* () {
    const initialText = yield* options.read
    const initial = yield* Effect.fromResult(options.compile(initialText))
    const state = yield* Ref.make({ value: initial, version: 0 })
    // the last text looked at, valid or not, so an invalid file is reported once, not on every poll
    let seen: string = initialText
    const counter = (outcome: "applied" | "invalid") =>
      Metric.update(Metric.withAttributes(RulesMetrics.reloads, { source: options.source, outcome }), 1)
    const check = Effect.gen(function* () {
      const read = yield* Effect.result(options.read)
      const text = Result.isSuccess(read) ? read.success : `\u0000unreadable: ${read.failure.message}`
      if (text === seen) return
      seen = text
      const compiled = Result.isSuccess(read) ? options.compile(text) : Result.fail(read.failure)
      if (Result.isFailure(compiled)) {
        yield* counter("invalid")
        yield* Effect.logWarning(`${options.source} changed but is not valid, keeping the previous version`).pipe(
          Effect.annotateLogs({ error: compiled.failure.message })
        )
        return
      }
      const next = yield* Ref.updateAndGet(state, (s) => ({ value: compiled.success, version: s.version + 1 }))
      yield* counter("applied")
      yield* Effect.logInfo(`${options.source} reloaded`).pipe(Effect.annotateLogs({ version: next.version }))
    })
    // a defect in one check (a compiler bug on odd input) must not end the watching for good
    const guarded = check.pipe(
      Effect.catchDefect((defect) =>
        Effect.logError(`${options.source}: checking for changes failed`).pipe(
          Effect.annotateLogs({ error: String(defect) })
        )
      )
    )
    yield* Effect.forkScoped(Effect.repeat(guarded, Schedule.spaced(options.interval)))
    return {
      current: Effect.map(Ref.get(state), (s) => s.value),
      version: Effect.map(Ref.get(state), (s) => s.version),
      snapshot: Ref.get(state)
    }
  })
