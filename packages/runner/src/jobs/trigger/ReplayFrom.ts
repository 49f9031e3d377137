/**
 * The seed's "event replay": `sluice trigger run --from-offset <n>` or
 * `--from-timestamp <iso>` starts the job from a position of the input
 * topic instead of where its consumer group left off. The source does not
 * seek; before it starts, the group's committed offsets are reset (as
 * `kafka-consumer-groups --reset-offsets` does) and the group then resumes
 * from there. Events after the position run their actions again; the
 * webhook's `Idempotency-Key` lets a receiver drop what it already had.
 *
 * `--from-offset` takes one offset for every partition (`120`) or one per
 * partition (`0:120,3:40`, other partitions as they are); an offset beyond
 * a partition's log is clamped to it. `--from-timestamp` takes an ISO 8601
 * date or date-time with its zone (`2026-01-01`, `2026-01-01T10:00:00Z`,
 * `2026-01-01T12:00:00+02:00`) and replays each partition from its first
 * record stamped at or after it.
 *
 * @since 0.1.0
 */
import { Admin } from "@sluice/kafka"
import { Effect, Option } from "effect"
import { RunnerError, Startup } from "../../RunnerError.ts"

const offsetSettings = "--from-offset"
const timestampSettings = "--from-timestamp"

const fail = (detail: string, settings: string) =>
  Effect.fail(new RunnerError({ reason: new Startup({ detail, settings }) }))

const offset = /^\d{1,19}$/
const dateTime = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/**
 * The reset target of `--from-offset`, or why it is not one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseOffset = (text: string): Effect.Effect<Admin.ResetTarget, RunnerError> => {
  const t = text.trim()
  if (offset.test(t)) return Effect.succeed({ _tag: "Offset", offset: BigInt(t) })
  const offsets = new Map<number, bigint>()
  for (const part of t.split(",")) {
    const m = /^(\d{1,5}):(\d{1,19})$/.exec(part.trim())
    if (m === null) {
      return fail(
        `--from-offset ${JSON.stringify(text)} is not an offset (120) or partition:offset pairs (0:120,3:40)`,
        offsetSettings
      )
    }
    const partition = Number(m[1])
    if (offsets.has(partition)) return fail(`--from-offset names partition ${partition} twice`, offsetSettings)
    offsets.set(partition, BigInt(m[2]!))
  }
  return Effect.succeed({ _tag: "Offsets", offsets })
}

// Date.parse rolls 2026-02-30 over to March 2; a day its month lacks is an error.
const realDay = (text: string): boolean => {
  const [y, m, d] = text.slice(0, 10).split("-").map(Number) as [number, number, number]
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate()
}

/**
 * The reset target of `--from-timestamp`, or why it is not one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseTimestamp = (text: string): Effect.Effect<Admin.ResetTarget, RunnerError> => {
  const t = text.trim()
  // A date-time without a zone would depend on the machine's; refused rather than guessed.
  const millis = dateTime.test(t) && realDay(t) ? Date.parse(t) : Number.NaN
  return Number.isFinite(millis)
    ? Effect.succeed({ _tag: "Timestamp", timestamp: millis })
    : fail(
        `--from-timestamp ${JSON.stringify(text)} is not an ISO 8601 date or date-time with a zone (2026-01-01T10:00:00Z)`,
        timestampSettings
      )
}

/**
 * Where to replay from, given the two flags: none when neither is given.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromFlags = (flags: {
  readonly fromOffset: Option.Option<string>
  readonly fromTimestamp: Option.Option<string>
}): Effect.Effect<Option.Option<Admin.ResetTarget>, RunnerError> => {
  if (Option.isSome(flags.fromOffset) && Option.isSome(flags.fromTimestamp)) {
    return fail(
      "--from-offset and --from-timestamp were both given; replay from one of them",
      `${offsetSettings} and ${timestampSettings}`
    )
  }
  if (Option.isSome(flags.fromOffset)) return Effect.map(parseOffset(flags.fromOffset.value), Option.some)
  if (Option.isSome(flags.fromTimestamp)) return Effect.map(parseTimestamp(flags.fromTimestamp.value), Option.some)
  return Effect.succeed(Option.none())
}

/**
 * Resets the job's consumer group on its input topic to `target`; a group
 * that still has running members, or a partition the topic lacks, is one
 * start-up line. Members that are leaving (a crashed process's, until its
 * session times out) are waited for, up to a minute.
 *
 * @since 0.1.0
 * @category running
 */
export const reset = (options: {
  readonly groupId: string
  readonly topic: string
  readonly target: Admin.ResetTarget
}) =>
  Admin.resetOffsets({
    groupId: options.groupId,
    topic: options.topic,
    to: options.target,
    // A restart right after a crash finds the dead member still in the group until its session times out.
    waitForEmpty: "60 seconds"
  }).pipe(
    Effect.mapError(
      (error) =>
        new RunnerError({
          reason: new Startup({
            detail: `cannot replay: ${error.message}`,
            settings: `${options.target._tag === "Timestamp" ? timestampSettings : offsetSettings} and TRIGGER_GROUP_ID`
          })
        })
    )
  )
