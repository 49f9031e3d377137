/**
 * Drives the request handlers directly, without sockets: requests are encoded
 * with the protocol writer, parked fetches use a timer the test fires by hand.
 */
import { GroupCoordinator } from "../src/internal/broker/groupCoordinator.ts"
import { type BrokerContext, handlers } from "../src/internal/broker/handlers.ts"
import { TopicStore } from "../src/internal/broker/topicStore.ts"
import { TransactionCoordinator } from "../src/internal/broker/transactionCoordinator.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { Writer } from "../src/internal/protocol/writer.ts"

export interface Harness {
  readonly broker: BrokerContext
  readonly store: TopicStore
  /** Sends a request; `replies` collects every response body it produces. */
  readonly call: (apiKey: number, version: number, body: (w: Writer) => void) => { replies: Array<Buffer> }
  /** Timers started by parked fetches, in start order; `fire` runs one. */
  readonly timers: Array<{ readonly ms: number; fire: () => void; cancelled: boolean }>
  /** The coordinators' clock, in milliseconds; tests move it by hand. */
  readonly clock: { now: number }
}

export const makeHarness = (): Harness => {
  const store = new TopicStore(0)
  const timers: Array<{ ms: number; fire: () => void; cancelled: boolean }> = []
  const clock = { now: 0 }
  const groups = new GroupCoordinator({
    now: () => clock.now,
    minSessionTimeoutMs: 1,
    maxSessionTimeoutMs: 1_000_000,
    initialRebalanceDelayMs: 0,
    onCommit: () => {}
  })
  const broker: BrokerContext = {
    nodeId: 1,
    host: "127.0.0.1",
    port: 9092,
    clusterId: "harness",
    store,
    groups,
    txns: new TransactionCoordinator({
      now: () => clock.now,
      maxTimeoutMs: 900_000,
      partition: (topic, partition) => store.partition(topic, partition),
      allocateProducerId: () => broker.nextProducerId++,
      commitOffsets: (offsets) => {
        for (const o of offsets) groups.restoreOffset(o.group, o.topic, o.partition, o.committed)
      },
      checkMember: (group, generationId, memberId, groupInstanceId) =>
        groups.checkMember(group, generationId, memberId, groupInstanceId),
      persist: () => {}
    }),
    autoCreateTopics: false,
    defaultPartitions: 1,
    nextProducerId: 1000,
    afterProduce: () => {},
    requestCounts: new Map(),
    refusals: new Map(),
    setTimer: (ms, f) => {
      const t = { ms, cancelled: false, fire: () => (t.cancelled ? undefined : f()) }
      timers.push(t)
      return () => {
        t.cancelled = true
      }
    }
  }
  const call = (apiKey: number, version: number, body: (w: Writer) => void) => {
    const w = new Writer(256)
    body(w)
    const replies: Array<Buffer> = []
    handlers.get(apiKey)!(
      broker,
      new Reader(w.toBuffer()),
      {
        header: { apiKey, apiVersion: version, correlationId: 1, clientId: "harness" },
        clientHost: "/test",
        onClose: () => {}
      },
      (b) => {
        if (b !== null) replies.push(Buffer.concat(b))
      }
    )
    return { replies }
  }
  return { broker, store, call, timers, clock }
}

export interface FetchedPartition {
  readonly index: number
  readonly errorCode: number
  readonly highWatermark: number
  readonly lastStableOffset: number
  readonly aborted: ReadonlyArray<{ readonly producerId: number; readonly firstOffset: number }> | null
  readonly records: Buffer
}

/** Decodes a Fetch v4–v11 response body. */
export const decodeFetchResponse = (
  body: Buffer,
  version: number
): Array<{ name: string; partitions: Array<FetchedPartition> }> => {
  const r = new Reader(body)
  r.int32()
  if (version >= 7) {
    r.int16()
    r.int32()
  }
  return r.array((r) => ({
    name: r.string(),
    partitions: r.array((r) => {
      const index = r.int32()
      const errorCode = r.int16()
      const highWatermark = r.int64n()
      const lastStableOffset = r.int64n()
      if (version >= 5) r.int64()
      const aborted = r.nullableArray((r) => ({ producerId: r.int64n(), firstOffset: r.int64n() }))
      if (version >= 11) r.int32()
      return { index, errorCode, highWatermark, lastStableOffset, aborted, records: Buffer.from(r.bytes()) }
    })
  }))
}

/** Encodes a Fetch v4 request body for one topic. */
export const fetchBody =
  (
    topic: string,
    partitions: ReadonlyArray<readonly [index: number, offset: number]>,
    options: { maxWaitMs?: number; minBytes?: number; isolation?: number } = {}
  ) =>
  (w: Writer) => {
    w.int32(-1)
      .int32(options.maxWaitMs ?? 0)
      .int32(options.minBytes ?? 1)
      .int32(50 * 1024 * 1024)
      .int8(options.isolation ?? 0)
    w.int32(1).string(topic)
    w.array(partitions, (w, [index, offset]) => {
      w.int32(index)
        .int64(offset)
        .int32(1024 * 1024)
    })
  }
