/**
 * The loop behind `sluice generate`, apart from Kafka and the terminal so it
 * can run under a test clock: generated records are grouped in chunks, each
 * chunk is handed to `send`, and `report` receives a progress line every
 * second and a summary at the end, however the run ends.
 *
 * @since 0.1.0
 */
import { Clock, type Duration, Effect, Option, Ref, Schedule, Stream } from "effect"
import * as Generator from "./Generator.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Generator.Options {
  readonly eventsPerSecond: number
  readonly count: Option.Option<number>
  readonly duration: Option.Option<Duration.Duration>
  readonly chunkSize: number
  readonly chunkWait: Duration.Input
  /** Named in the summary. */
  readonly topic: string
}

/**
 * What was published.
 *
 * @since 0.1.0
 * @category models
 */
export interface Totals {
  readonly sent: number
  readonly invalid: number
}

const isMalformed = (kind: Generator.Kind): boolean => kind !== "valid" && kind !== "unknown-claim"

/**
 * Publishes until `count` records, `duration`, or interruption.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  options: Options,
  send: (chunk: ReadonlyArray<Generator.GeneratedRecord>) => Effect.Effect<void, E, R>,
  report: (line: string) => Effect.Effect<void>
): Effect.Effect<Totals, E, R> =>
  Effect.gen(function* () {
    const totals = yield* Ref.make<Totals>({ sent: 0, invalid: 0 })
    const started = yield* Clock.currentTimeMillis
    let lastSent = 0
    const progress = Ref.get(totals).pipe(
      Effect.flatMap((t) => {
        const rate = t.sent - lastSent
        lastSent = t.sent
        return report(`sent ${t.sent}  rate ${rate}/s  invalid ${t.invalid}`)
      }),
      Effect.delay("1 second"),
      Effect.repeat(Schedule.forever)
    )
    const summary = Effect.gen(function* () {
      const t = yield* Ref.get(totals)
      const seconds = Math.max((yield* Clock.currentTimeMillis) - started, 1) / 1000
      yield* report(
        `done: sent ${t.sent} records to ${options.topic} in ${seconds.toFixed(1)}s (${Math.round(t.sent / seconds)}/s), invalid ${t.invalid}`
      )
    })
    const records = Generator.stream({ ...options, count: Option.getOrUndefined(options.count) })
    const publish = records.pipe(
      // Halting the source, not the sends, lets chunks already taken go out.
      Option.isSome(options.duration) ? Stream.haltWhen(Effect.sleep(options.duration.value)) : (s) => s,
      Stream.groupedWithin(options.chunkSize, options.chunkWait),
      Stream.mapEffect((chunk) =>
        // Uninterruptible so that a stop during a send still counts what was acknowledged.
        send(chunk).pipe(
          Effect.andThen(
            Ref.update(totals, (t) => ({
              sent: t.sent + chunk.length,
              invalid: t.invalid + chunk.filter((r) => isMalformed(r.kind)).length
            }))
          ),
          Effect.uninterruptible
        )
      ),
      Stream.runDrain
    )
    yield* Effect.raceFirst(publish, Effect.andThen(progress, Effect.never)).pipe(Effect.ensuring(summary))
    return yield* Ref.get(totals)
  })

/**
 * A generated record as the Kafka client's message.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toKafkaMessage = (r: Generator.GeneratedRecord) => ({
  key: Buffer.from(r.key),
  value: Buffer.from(r.value),
  headers: Object.fromEntries(r.headers.map(([name, value]) => [name, Buffer.from(value)]))
})
