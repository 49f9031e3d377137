/**
 * Cluster administration that jobs run before they start, through the admin
 * client of `KafkaClient`. `ensureTopics` is idempotent: it creates the
 * topics that are missing and leaves existing ones as they are, so every
 * instance of a job can call it at start-up.
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import { KafkaClient } from "./KafkaClient.ts"
import * as KafkaError from "./KafkaError.ts"

/**
 * A topic a job needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TopicSpec {
  readonly topic: string
  readonly partitions: number
  /** Defaults to the broker's `default.replication.factor`. */
  readonly replicationFactor?: number
  /** Topic-level settings such as `retention.ms` or `cleanup.policy`. */
  readonly configs?: Readonly<Record<string, string>>
}

/**
 * Which topics `ensureTopics` created and which were there already.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnsureTopicsResult {
  readonly created: ReadonlyArray<string>
  readonly existing: ReadonlyArray<string>
}

/**
 * Creates the topics of `specs` that do not exist yet and waits until their
 * partitions have leaders. Existing topics are not changed; one whose
 * partition count differs from the spec is reported in a warning, because
 * adding partitions would move keys to other partitions. Another process
 * creating the same topic at the same time is not an error.
 *
 * @since 0.1.0
 * @category combinators
 */
export const ensureTopics = Effect.fnUntraced(function* (
  specs: ReadonlyArray<TopicSpec>,
  options: { readonly timeout?: Duration.Input } = {}
): Effect.fn.Return<EnsureTopicsResult, KafkaError.KafkaError, KafkaClient> {
  const { admin } = yield* KafkaClient
  const wanted = new Map<string, TopicSpec>()
  for (const spec of specs) if (!wanted.has(spec.topic)) wanted.set(spec.topic, spec)
  if (wanted.size === 0) return { created: [], existing: [] }

  const present = new Set(yield* KafkaError.attempt("listTopics", () => admin.listTopics()))
  const missing = [...wanted.values()].filter((spec) => !present.has(spec.topic))
  const existing = [...wanted.keys()].filter((topic) => present.has(topic))

  if (existing.length > 0) {
    const metadata = yield* KafkaError.attempt("fetchTopicMetadata", () =>
      admin.fetchTopicMetadata({ topics: existing })
    )
    for (const topic of metadata.topics) {
      const expected = wanted.get(topic.name)?.partitions
      if (expected !== undefined && topic.partitions.length !== expected) {
        yield* Effect.logWarning("Kafka topic exists with a different partition count").pipe(
          Effect.annotateLogs({ topic: topic.name, expected, actual: topic.partitions.length })
        )
      }
    }
  }
  if (missing.length === 0) return { created: [], existing }

  const timeout = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "30 seconds"))
  // `false`: the broker answered that the topics already exist, because another
  // instance created them meanwhile; they exist either way.
  const created = yield* KafkaError.attempt("createTopics", () =>
    admin.createTopics({
      waitForLeaders: true,
      timeout,
      topics: missing.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.partitions,
        ...(spec.replicationFactor === undefined ? {} : { replicationFactor: spec.replicationFactor }),
        ...(spec.configs === undefined
          ? {}
          : { configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })) })
      }))
    })
  )
  const names = missing.map((spec) => spec.topic)
  if (!created) return { created: [], existing: [...existing, ...names] }
  yield* Effect.logInfo("Kafka topics created").pipe(Effect.annotateLogs({ topics: names.join(",") }))
  return { created: names, existing }
})
