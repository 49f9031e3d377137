/**
 * An embedded broker that speaks the Kafka wire protocol over real TCP
 * sockets, so unmodified clients (kafkajs, librdkafka/kcat) can run against
 * it in tests and local development without Docker or a JVM.
 *
 * It is a test and development broker, NOT a replacement for Kafka: a single
 * node that leads every partition, no replication, no ACLs, no fetch sessions,
 * and only uncompressed or gzip record batches (magic 2). It implements
 * Produce (with idempotent producers), Fetch (long-poll, both isolation
 * levels), ListOffsets, Metadata, CreateTopics, DeleteTopics, consumer groups
 * (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, OffsetCommit, OffsetFetch,
 * DescribeGroups, ListGroups) and transactions as Kafka does them (KIP-98):
 * InitProducerId with a transactional id (an epoch bump fences the previous
 * producer), AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit (v3 checks the
 * consumer's group generation, KIP-447), EndTxn,
 * commit/abort markers, the last stable offset, `read_committed` fetches with
 * the aborted-transactions list, and transaction timeouts on the Effect clock.
 * Topics created with `cleanup.policy=compact` are compacted (latest record
 * per key, tombstones removed after `delete.retention.ms`, offsets kept),
 * except for their active segment (`segment.bytes`, `logSegmentBytes`).
 *
 * Data lives in memory unless `dataDir` is set; then every partition is an
 * append-only set of segment files plus append-only files of group commits
 * and transaction coordinator states, replayed on start (a transaction that
 * was open stays open; one that was being committed or aborted is finished). fsync policy (`fsync`): `"interval"` (default)
 * flushes written files every `fsyncIntervalMs`; `"always"` flushes after
 * every produce request and commit; `"never"` leaves it to the OS. Writes
 * reach the OS immediately in every mode, so a crashed process loses nothing;
 * only a machine crash can lose up to one interval.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const kafka = yield* EmbeddedKafka
 *   yield* kafka.createTopic("orders", 3)
 *   // point a client at kafka.bootstrap
 * }).pipe(Effect.provide(EmbeddedKafka.layer({ port: 0 })))
 * ```
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import * as net from "node:net"
import { Clock, Context, Effect, Layer, Schedule, type Scope } from "effect"
import { Connection } from "./internal/broker/connection.ts"
import { GroupCoordinator } from "./internal/broker/groupCoordinator.ts"
import { type BrokerContext, rawTimer } from "./internal/broker/handlers.ts"
import { Persistence } from "./internal/broker/persistence.ts"
import { TopicStore } from "./internal/broker/topicStore.ts"
import { TransactionCoordinator, type TxnStatus } from "./internal/broker/transactionCoordinator.ts"
import { ApiKey, ErrorCode } from "./internal/protocol/apiKeys.ts"
import { TestkitError } from "./TestkitError.ts"

/**
 * When written log and offset files are flushed to stable storage.
 *
 * @since 0.1.0
 * @category models
 */
export type FsyncPolicy = "always" | "interval" | "never"

/**
 * Broker configuration; every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number
  /** Interface to bind and the host advertised in metadata; default "127.0.0.1". */
  readonly host?: string
  /** Directory for durable data; in memory when absent. */
  readonly dataDir?: string
  /** Create unknown topics on metadata or produce requests; default true. */
  readonly autoCreateTopics?: boolean
  /** Partitions of auto-created topics and of CreateTopics with -1; default 1. */
  readonly defaultPartitions?: number
  /** Per-partition retention in bytes; the oldest batches are dropped beyond it. 0 (default) keeps everything. */
  readonly retentionBytes?: number
  /** Largest accepted request frame; bigger frames close the connection. Default 100 MiB. */
  readonly maxRequestBytes?: number
  /** Smallest session timeout a member may ask for; default 1000 ms. */
  readonly minSessionTimeoutMs?: number
  /** Largest session timeout a member may ask for; default 300000 ms. */
  readonly maxSessionTimeoutMs?: number
  /** Delay before the first rebalance of an empty group completes, so that members starting together join one round; default 0. */
  readonly initialRebalanceDelayMs?: number
  /** Broker node id in metadata; default 1. */
  readonly nodeId?: number
  /** See the module documentation; default "interval". */
  readonly fsync?: FsyncPolicy
  /** Flush period for the "interval" policy; default 1000 ms. */
  readonly fsyncIntervalMs?: number
  /** Segment file size in `dataDir` before rolling to a new one; default 64 MiB. */
  readonly segmentBytes?: number
  /**
   * Kafka's `log.segment.bytes` for compaction: the newest this many bytes of
   * a compacted partition (its active segment) are never compacted. A topic's
   * `segment.bytes` config overrides it. Default 1 MiB rather than Kafka's
   * 1 GiB, so tests and the demo see their changelogs compacted.
   */
  readonly logSegmentBytes?: number
  /** Largest transaction timeout a transactional producer may ask for; default 900000 ms (Kafka's). */
  readonly maxTransactionTimeoutMs?: number
  /** How often compacted topics (`cleanup.policy=compact`) are checked for compaction, on the Effect clock; default 1000 ms. */
  readonly compactionIntervalMs?: number
}

/**
 * The running broker and helpers for tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Broker {
  /** "host:port", ready for a client's bootstrap servers. */
  readonly bootstrap: string
  readonly host: string
  readonly port: number
  /**
   * Creates a topic; fails if it exists or the name, partition count or
   * configuration is invalid. `config` takes Kafka topic configs, e.g.
   * `{ "cleanup.policy": "compact", "delete.retention.ms": "1000" }`.
   */
  readonly createTopic: (
    name: string,
    partitions?: number,
    config?: Readonly<Record<string, string>>
  ) => Effect.Effect<void, TestkitError>
  readonly deleteTopic: (name: string) => Effect.Effect<void, TestkitError>
  readonly topics: Effect.Effect<ReadonlyArray<string>>
  /** Next offset (high watermark) of each partition, indexed by partition. */
  readonly endOffsets: (topic: string) => Effect.Effect<ReadonlyArray<number>, TestkitError>
  /** Log start offset of each partition. */
  readonly startOffsets: (topic: string) => Effect.Effect<ReadonlyArray<number>, TestkitError>
  /** Committed offset of a group per "topic" → partition → offset. */
  readonly committedOffsets: (group: string) => Effect.Effect<ReadonlyMap<string, ReadonlyMap<number, number>>>
  /** Current state and members of a consumer group. */
  readonly describeGroup: (group: string) => Effect.Effect<{ readonly state: string; readonly members: number }>
  /** Generation of a consumer group: it grows by one with every completed rebalance. */
  readonly groupGeneration: (group: string) => Effect.Effect<number>
  /** Last stable offset of each partition (the high watermark where no transaction is open). */
  readonly stableOffsets: (topic: string) => Effect.Effect<ReadonlyArray<number>, TestkitError>
  /** Coordinator state and producer epoch of a transactional id; `undefined` if never initialised. */
  readonly describeTransaction: (
    transactionalId: string
  ) => Effect.Effect<{ readonly status: TxnStatus; readonly producerEpoch: number } | undefined>
  /** Requests of an API received so far, over every connection. */
  readonly requestCount: (api: keyof typeof ApiKey) => Effect.Effect<number>
  /**
   * Answers the next request of `api` with `error` without processing it:
   * a coordinator that moved (`NOT_COORDINATOR`) or is not ready
   * (`COORDINATOR_NOT_AVAILABLE`), as a cluster answers while a coordinator
   * fails over.
   */
  readonly refuseNext: (
    api: "AddOffsetsToTxn" | "EndTxn",
    error: "NOT_COORDINATOR" | "COORDINATOR_NOT_AVAILABLE"
  ) => Effect.Effect<void>
}

/**
 * The broker as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class EmbeddedKafka extends Context.Service<EmbeddedKafka, Broker>()("@sluice/testkit/EmbeddedKafka") {}

const errorName = (code: number): string =>
  Object.entries(ErrorCode).find(([, c]) => c === code)?.[0] ?? `error ${code}`

/**
 * Starts a broker for the lifetime of the scope and stops it (closing every
 * connection and file) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Broker, TestkitError, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const host = options.host ?? "127.0.0.1"
    const fsyncPolicy = options.fsync ?? "interval"
    const store = new TopicStore(options.retentionBytes ?? 0, options.logSegmentBytes)
    const persistence = yield* Effect.try({
      try: () =>
        options.dataDir === undefined
          ? null
          : new Persistence(options.dataDir, options.segmentBytes ?? 64 * 1024 * 1024),
      catch: (cause) => new TestkitError({ reason: "Storage", message: "cannot open data directory", cause })
    })
    // Registered before the server, so it runs after the server has closed every connection.
    yield* Effect.addFinalizer(() => Effect.sync(() => persistence?.close()))
    const groups = new GroupCoordinator({
      now: () => clock.currentTimeMillisUnsafe(),
      minSessionTimeoutMs: options.minSessionTimeoutMs ?? 1000,
      maxSessionTimeoutMs: options.maxSessionTimeoutMs ?? 300_000,
      initialRebalanceDelayMs: options.initialRebalanceDelayMs ?? 0,
      onCommit: (group, topic, partition, committed) => {
        persistence?.appendCommit({ group, topic, partition, committed })
        if (fsyncPolicy === "always") persistence?.flush()
      }
    })
    const txns = new TransactionCoordinator({
      now: () => clock.currentTimeMillisUnsafe(),
      maxTimeoutMs: options.maxTransactionTimeoutMs ?? 900_000,
      partition: (topic, partition) => store.partition(topic, partition),
      allocateProducerId: () => broker.nextProducerId++,
      commitOffsets: (offsets) => {
        for (const o of offsets) {
          groups.restoreOffset(o.group, o.topic, o.partition, o.committed)
          persistence?.appendCommit(o)
        }
      },
      checkMember: (group, generationId, memberId, groupInstanceId) =>
        groups.checkMember(group, generationId, memberId, groupInstanceId),
      persist: (record) => {
        persistence?.appendTransaction(record)
        if (fsyncPolicy === "always") persistence?.flush()
      }
    })
    const broker: BrokerContext = {
      nodeId: options.nodeId ?? 1,
      host,
      port: 0,
      clusterId: `sluice-${randomUUID()}`,
      store,
      groups,
      txns,
      autoCreateTopics: options.autoCreateTopics ?? true,
      defaultPartitions: options.defaultPartitions ?? 1,
      nextProducerId: 1000,
      afterProduce: fsyncPolicy === "always" && persistence !== null ? () => persistence.flush() : () => {},
      setTimer: rawTimer,
      requestCounts: new Map(),
      refusals: new Map()
    }
    if (persistence !== null) {
      yield* Effect.try({
        try: () => {
          for (const t of persistence.loadTopics()) {
            store.create(t.name, t.partitions, t.config)
            const logs = store.topics.get(t.name) ?? []
            persistence.attach(t.name, logs)
            for (const l of logs) broker.nextProducerId = Math.max(broker.nextProducerId, l.maxProducerId() + 1)
          }
          for (const c of persistence.loadOffsets()) groups.restoreOffset(c.group, c.topic, c.partition, c.committed)
          for (const t of persistence.loadTransactions()) txns.restore(t)
          broker.nextProducerId = Math.max(broker.nextProducerId, txns.maxProducerId() + 1)
          const configOf = (name: string) => store.config(name).entries
          store.hooks = {
            onCreate: (name, logs) => {
              persistence.attach(name, logs)
              persistence.saveTopics(store.topics, configOf)
            },
            onDelete: (name, partitions) => {
              persistence.saveTopics(store.topics, configOf)
              persistence.drop(name, partitions)
            }
          }
          // Transactions that were being committed or aborted when the broker stopped get their markers now.
          txns.recover()
        },
        catch: (cause) => new TestkitError({ reason: "Storage", message: "cannot replay data directory", cause })
      })
    }

    const connections = new Set<Connection>()
    const server = net.createServer((socket) => {
      const c = new Connection(socket, broker, options.maxRequestBytes ?? 100 * 1024 * 1024)
      connections.add(c)
      socket.on("close", () => connections.delete(c))
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, TestkitError>((resume) => {
        const onError = (cause: Error) =>
          resume(Effect.fail(new TestkitError({ reason: "Listen", message: `cannot listen on ${host}`, cause })))
        server.once("error", onError)
        server.listen(options.port ?? 0, host, () => {
          server.off("error", onError)
          const address = server.address()
          broker.port = typeof address === "object" && address !== null ? address.port : 0
          resume(Effect.void)
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          for (const c of connections) c.close()
          server.close(() => resume(Effect.void))
        })
    )

    // Group and transaction timers on the Effect clock: TestClock drives session, rebalance and transaction timeouts in tests.
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.sync(() => {
          groups.tick()
          txns.tick()
        }),
        Schedule.spaced("100 millis")
      )
    )
    // Log compaction on the Effect clock, so TestClock drives it (and tombstone horizons) in tests.
    yield* Effect.forkScoped(
      Effect.repeat(
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          for (const [name, config] of store.configs) {
            if (!config.compact) continue
            for (const log of store.topics.get(name) ?? []) {
              if (log.needsCompaction(now, config.minCleanableDirtyRatio)) log.compact(now, config.deleteRetentionMs)
            }
          }
        }),
        Schedule.spaced(`${options.compactionIntervalMs ?? 1000} millis`)
      )
    )
    if (persistence !== null && fsyncPolicy === "interval") {
      yield* Effect.forkScoped(
        Effect.repeat(
          Effect.sync(() => persistence.flush()),
          Schedule.spaced(`${options.fsyncIntervalMs ?? 1000} millis`)
        )
      )
    }

    const topicLogs = (topic: string) =>
      Effect.suspend(() => {
        const logs = store.topics.get(topic)
        return logs === undefined
          ? Effect.fail(new TestkitError({ reason: "Topic", message: `unknown topic ${topic}` }))
          : Effect.succeed(logs)
      })
    const fromCode = (code: number, what: string) =>
      code === 0
        ? Effect.void
        : Effect.fail(new TestkitError({ reason: "Topic", message: `${what}: ${errorName(code)}` }))

    return {
      bootstrap: `${host}:${broker.port}`,
      host,
      port: broker.port,
      createTopic: (name, partitions, config) =>
        Effect.suspend(() =>
          fromCode(store.create(name, partitions ?? broker.defaultPartitions, config), `create ${name}`)
        ),
      deleteTopic: (name) => Effect.suspend(() => fromCode(store.delete(name), `delete ${name}`)),
      topics: Effect.sync(() => [...store.topics.keys()]),
      endOffsets: (topic) => Effect.map(topicLogs(topic), (logs) => logs.map((l) => l.nextOffset)),
      startOffsets: (topic) => Effect.map(topicLogs(topic), (logs) => logs.map((l) => l.logStartOffset)),
      committedOffsets: (group) =>
        Effect.sync(
          () =>
            new Map([...groups.committed(group)].map(([t, ps]) => [t, new Map([...ps].map(([p, c]) => [p, c.offset]))]))
        ),
      describeGroup: (group) =>
        Effect.sync(() => {
          const d = groups.describe(group)
          return { state: d.state, members: d.members.length }
        }),
      groupGeneration: (group) => Effect.sync(() => groups.generation(group)),
      stableOffsets: (topic) => Effect.map(topicLogs(topic), (logs) => logs.map((l) => l.lastStableOffset)),
      describeTransaction: (transactionalId) => Effect.sync(() => txns.describe(transactionalId)),
      requestCount: (api) => Effect.sync(() => broker.requestCounts.get(ApiKey[api]) ?? 0),
      refuseNext: (api, error) =>
        Effect.sync(() => {
          broker.refusals.set(ApiKey[api], ErrorCode[error])
        })
    } satisfies Broker
  })

/**
 * A layer providing a running `EmbeddedKafka`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<EmbeddedKafka, TestkitError> =>
  Layer.effect(EmbeddedKafka, make(options))
