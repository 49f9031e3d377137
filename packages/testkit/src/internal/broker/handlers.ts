/**
 * Request handlers: decode a request body, act on the topic store and group
 * coordinator, and encode the response. Each handler calls `reply` exactly
 * once (or never for acks=0 produce); long-polling handlers (Fetch, JoinGroup,
 * SyncGroup) call it later.
 */
import * as Admin from "../protocol/admin.ts"
import { ApiKey, ErrorCode } from "../protocol/apiKeys.ts"
import * as Fetch from "../protocol/fetch.ts"
import * as Groups from "../protocol/groups.ts"
import * as Header from "../protocol/header.ts"
import * as ListOffsets from "../protocol/listOffsets.ts"
import * as Metadata from "../protocol/metadata.ts"
import * as Offsets from "../protocol/offsets.ts"
import * as Produce from "../protocol/produce.ts"
import type { Reader } from "../protocol/reader.ts"
import { checkBatch } from "../protocol/recordBatch.ts"
import * as Txn from "../protocol/transactions.ts"
import { Writer } from "../protocol/writer.ts"
import type { GroupCoordinator } from "./groupCoordinator.ts"
import { parseConfig } from "./topicConfig.ts"
import { isValidTopicName, type TopicStore } from "./topicStore.ts"
import type { TransactionCoordinator } from "./transactionCoordinator.ts"

export interface BrokerContext {
  readonly nodeId: number
  readonly host: string
  port: number
  readonly clusterId: string
  readonly store: TopicStore
  readonly groups: GroupCoordinator
  readonly txns: TransactionCoordinator
  readonly autoCreateTopics: boolean
  readonly defaultPartitions: number
  nextProducerId: number
  /** Called once after each produce request's appends (fsync policy "always"). */
  readonly afterProduce: () => void
  /** Starts a one-shot timer for parked fetches (see `rawTimer`). */
  readonly setTimer: (ms: number, f: () => void) => () => void
  /** Requests received, by API key (see `EmbeddedKafka.requestCount`). */
  readonly requestCounts: Map<number, number>
  /** Error codes to answer the next request of an API key with, unprocessed (see `EmbeddedKafka.refuseNext`). */
  readonly refusals: Map<number, number>
}

/** Response body as a list of buffers; `null` means "send nothing". */
export type Reply = (body: ReadonlyArray<Buffer> | null) => void

export interface RequestContext {
  readonly header: Header.RequestHeader
  readonly clientHost: string
  /** Registers a canceller run if the connection closes while the request is parked. */
  readonly onClose: (cancel: () => void) => void
}

/**
 * The timer behind parked fetches. Raw timers on purpose: a fetch parks on
 * every idle poll of every consumer, and a fiber plus a `Clock` sleep per
 * parked fetch would cost more than the fetch itself. Group and session
 * timing, which tests need to control, uses the Effect `Clock` instead.
 */
export const rawTimer = (ms: number, f: () => void): (() => void) => {
  const t = setTimeout(f, ms)
  return () => clearTimeout(t)
}

const one = (w: Writer): ReadonlyArray<Buffer> => [w.toBuffer()]

type Handler = (broker: BrokerContext, r: Reader, req: RequestContext, reply: Reply) => void

const apiVersions: Handler = (_b, r, req, reply) => {
  Header.decodeApiVersions(r, req.header.apiVersion)
  const w = new Writer(512)
  Header.encodeApiVersions(w, req.header.apiVersion, ErrorCode.NONE)
  reply(one(w))
}

const metadata: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Metadata.decodeMetadata(r, v)
  const names = request.topics ?? [...b.store.topics.keys()]
  const topics = names.map((name): Metadata.MetadataTopic => {
    let logs = b.store.topics.get(name)
    if (logs === undefined && request.topics !== null && b.autoCreateTopics && request.allowAutoTopicCreation) {
      b.store.create(name, b.defaultPartitions)
      logs = b.store.topics.get(name)
    }
    if (logs === undefined) {
      const errorCode = isValidTopicName(name)
        ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        : ErrorCode.INVALID_TOPIC_EXCEPTION
      return { errorCode, name, partitions: 0 }
    }
    return { errorCode: 0, name, partitions: logs.length }
  })
  const w = new Writer(256 + topics.length * 64)
  Metadata.encodeMetadata(w, v, {
    brokers: [{ nodeId: b.nodeId, host: b.host, port: b.port }],
    clusterId: b.clusterId,
    controllerId: b.nodeId,
    topics
  })
  reply(one(w))
}

const produce: Handler = (b, r, req, reply) => {
  const request = Produce.decodeProduce(r)
  const results = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p): Produce.ProducePartitionResult => {
      const fail = (errorCode: number) => ({ index: p.index, errorCode, baseOffset: -1, logStartOffset: -1 })
      let log = b.store.partition(t.name, p.index)
      if (log === undefined && b.autoCreateTopics && !b.store.topics.has(t.name)) {
        b.store.create(t.name, b.defaultPartitions)
        log = b.store.partition(t.name, p.index)
      }
      if (log === undefined) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
      const records = p.records
      if (records === null || records.length === 0) return fail(ErrorCode.CORRUPT_MESSAGE)
      // Validate every batch before appending any, so a request is all-or-nothing per partition.
      const headers = []
      for (let at = 0; at < records.length; ) {
        const c = checkBatch(records, at, records.length)
        switch (c._tag) {
          case "Ok": {
            const h = c.header
            // Control batches come only from the coordinator; transactional batches only inside a transaction.
            if ((h.attributes & Txn.CONTROL_BIT) !== 0) return fail(ErrorCode.INVALID_REQUEST)
            if (((h.attributes & Txn.TRANSACTIONAL_BIT) !== 0) !== (request.transactionalId !== null)) {
              return fail(ErrorCode.INVALID_REQUEST)
            }
            if (request.transactionalId !== null) {
              const code = b.txns.checkProduce(request.transactionalId, h.producerId, h.producerEpoch, t.name, p.index)
              if (code !== 0) return fail(code)
            }
            headers.push({ at, header: h })
            at += h.size
            break
          }
          case "UnsupportedCompression":
            return fail(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)
          case "UnsupportedMagic":
            return fail(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT)
          default:
            return fail(ErrorCode.CORRUPT_MESSAGE)
        }
      }
      let baseOffset = -1
      for (const { at, header } of headers) {
        // Copy out of the request frame so the frame's memory can be released.
        const batch = Buffer.allocUnsafeSlow(header.size)
        records.copy(batch, 0, at, at + header.size)
        const res = log.append(batch, header)
        if (res.errorCode !== 0) return fail(res.errorCode)
        if (baseOffset < 0) baseOffset = res.baseOffset
      }
      return { index: p.index, errorCode: 0, baseOffset, logStartOffset: log.logStartOffset }
    })
  }))
  b.afterProduce()
  if (request.acks === 0) return reply(null)
  const w = new Writer(128)
  Produce.encodeProduce(w, req.header.apiVersion, results)
  reply(one(w))
}

const fetch: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Fetch.decodeFetch(r, v)
  const readCommitted = request.isolationLevel === 1
  const collect = () => {
    let total = 0
    let errors = false
    const topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): Fetch.FetchPartitionResult => {
        const log = b.store.partition(t.name, p.index)
        if (log === undefined) {
          errors = true
          return {
            index: p.index,
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            highWatermark: -1,
            lastStableOffset: -1,
            logStartOffset: -1,
            aborted: null,
            batches: [],
            size: 0
          }
        }
        const lastStableOffset = log.lastStableOffset
        const base = {
          index: p.index,
          highWatermark: log.nextOffset,
          lastStableOffset,
          logStartOffset: log.logStartOffset,
          aborted: null
        }
        if (p.fetchOffset < log.logStartOffset || p.fetchOffset > log.nextOffset) {
          errors = true
          return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, batches: [], size: 0 }
        }
        const budget = Math.min(p.partitionMaxBytes, request.maxBytes - total)
        const batches: Array<Buffer> = []
        const below = readCommitted ? lastStableOffset : Number.POSITIVE_INFINITY
        const size = budget > 0 || total === 0 ? log.read(p.fetchOffset, Math.max(budget, 1), batches, below) : 0
        total += size
        if (!readCommitted || size === 0) return { ...base, errorCode: 0, batches, size }
        const last = batches[batches.length - 1]!
        const end = Number(last.readBigInt64BE(0)) + last.readInt32BE(23) + 1
        const aborted = log.abortedBetween(p.fetchOffset, end)
        return { ...base, aborted: aborted.length > 0 ? aborted : null, errorCode: 0, batches, size }
      })
    }))
    return { topics, total, errors }
  }
  const respond = (topics: ReadonlyArray<Fetch.FetchTopicResult>) => {
    const chunks: Array<Buffer> = []
    Fetch.encodeFetch(new Writer(256), v, topics, chunks)
    reply(chunks)
  }
  const first = collect()
  if (first.errors || first.total >= request.minBytes || request.maxWaitMs <= 0) return respond(first.topics)
  // Park until enough data arrives or the wait expires; no polling in between.
  // One waiter per partition at any time: an append re-arms only the waiter of
  // the partition it woke (the others are still registered), and the bytes
  // appended are counted rather than re-read, so a parked fetch costs O(1) per append.
  const cancels: Array<() => void> = []
  let done = false
  let arrived = first.total
  const finish = () => {
    if (done) return
    done = true
    for (const c of cancels) c()
    respond(collect().topics)
  }
  for (const t of request.topics) {
    for (const p of t.partitions) {
      const log = b.store.partition(t.name, p.index)
      if (log === undefined) continue
      const slot = cancels.length
      let stable = log.lastStableOffset
      const onData = (bytes: number) => {
        if (done) return
        if (readCommitted && bytes !== Number.POSITIVE_INFINITY) {
          // Data of an open transaction is invisible to this fetch: answering
          // it would only send the reader an empty response to ask again.
          // Only a moved last stable offset (a marker) can give it something.
          if (log.lastStableOffset !== stable) {
            stable = log.lastStableOffset
            const now = collect()
            if (now.errors || now.total >= request.minBytes) return finish()
          }
          cancels[slot] = log.onAppend(onData)
          return
        }
        arrived += bytes
        if (arrived >= request.minBytes) return finish()
        cancels[slot] = log.onAppend(onData)
      }
      cancels.push(log.onAppend(onData))
    }
  }
  cancels.push(b.setTimer(request.maxWaitMs, finish))
  req.onClose(() => {
    done = true
    for (const c of cancels) c()
  })
}

const listOffsets: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = ListOffsets.decodeListOffsets(r, v)
  const topics = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p): ListOffsets.ListOffsetsPartitionResult => {
      const log = b.store.partition(t.name, p.index)
      if (log === undefined) {
        return { index: p.index, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 }
      }
      if (p.timestamp === -1) {
        // A read_committed consumer's "latest" is the last stable offset.
        const offset = request.isolationLevel === 1 ? log.lastStableOffset : log.nextOffset
        return { index: p.index, errorCode: 0, timestamp: -1, offset }
      }
      if (p.timestamp === -2) return { index: p.index, errorCode: 0, timestamp: -1, offset: log.logStartOffset }
      const found = log.offsetForTimestamp(p.timestamp)
      return found === undefined
        ? { index: p.index, errorCode: 0, timestamp: -1, offset: -1 }
        : { index: p.index, errorCode: 0, timestamp: found.timestamp, offset: found.offset }
    })
  }))
  const w = new Writer(128)
  ListOffsets.encodeListOffsets(w, v, topics)
  reply(one(w))
}

const createTopics: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Admin.decodeCreateTopics(r, v)
  const results = request.topics.map((t): Admin.TopicResult => {
    const partitions = t.numPartitions === -1 ? b.defaultPartitions : t.numPartitions
    if (t.replicationFactor !== -1 && t.replicationFactor !== 1) {
      return { name: t.name, errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: "single broker" }
    }
    if (t.assignments > 0) {
      return { name: t.name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "manual assignment unsupported" }
    }
    if (request.validateOnly) {
      const errorCode = !isValidTopicName(t.name)
        ? ErrorCode.INVALID_TOPIC_EXCEPTION
        : b.store.topics.has(t.name)
          ? ErrorCode.TOPIC_ALREADY_EXISTS
          : partitions < 1
            ? ErrorCode.INVALID_PARTITIONS
            : typeof parseConfig(t.configs) === "number"
              ? ErrorCode.INVALID_CONFIG
              : 0
      return { name: t.name, errorCode, errorMessage: null }
    }
    return { name: t.name, errorCode: b.store.create(t.name, partitions, t.configs), errorMessage: null }
  })
  const w = new Writer(128)
  Admin.encodeCreateTopics(w, v, results)
  reply(one(w))
}

const deleteTopics: Handler = (b, r, req, reply) => {
  const results = Admin.decodeDeleteTopics(r).map((name) => ({
    name,
    errorCode: b.store.delete(name),
    errorMessage: null
  }))
  const w = new Writer(128)
  Admin.encodeDeleteTopics(w, req.header.apiVersion, results)
  reply(one(w))
}

const findCoordinator: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const { keyType } = Groups.decodeFindCoordinator(r, v)
  const w = new Writer(64)
  // Key type 0 is a group, 1 a transactional id: this broker coordinates both.
  if (keyType !== 0 && keyType !== 1)
    Groups.encodeFindCoordinator(w, v, ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, "", -1)
  else Groups.encodeFindCoordinator(w, v, ErrorCode.NONE, b.nodeId, b.host, b.port)
  reply(one(w))
}

const joinGroup: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Groups.decodeJoinGroup(r, v)
  let closed = false
  req.onClose(() => {
    closed = true
  })
  b.groups.join(request, req.header.clientId ?? "", req.clientHost, (res) => {
    if (closed) return
    const w = new Writer(256)
    Groups.encodeJoinGroup(w, v, res)
    reply(one(w))
  })
}

const syncGroup: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Groups.decodeSyncGroup(r, v)
  let closed = false
  req.onClose(() => {
    closed = true
  })
  b.groups.sync(
    request.groupId,
    request.generationId,
    request.memberId,
    request.assignments,
    (code, assignment) => {
      if (closed) return
      const w = new Writer(128)
      Groups.encodeSyncGroup(w, v, code, assignment)
      reply(one(w))
    },
    request.groupInstanceId
  )
}

const heartbeat: Handler = (b, r, req, reply) => {
  const h = Groups.decodeHeartbeat(r, req.header.apiVersion)
  const w = new Writer(16)
  Groups.encodeErrorOnly(
    w,
    req.header.apiVersion,
    b.groups.heartbeat(h.groupId, h.generationId, h.memberId, h.groupInstanceId)
  )
  reply(one(w))
}

const leaveGroup: Handler = (b, r, req, reply) => {
  const l = Groups.decodeLeaveGroup(r, req.header.apiVersion)
  const members = l.members.map((m) => ({
    ...m,
    errorCode: b.groups.leave(l.groupId, m.memberId, m.groupInstanceId)
  }))
  const w = new Writer(64)
  Groups.encodeLeaveGroup(w, req.header.apiVersion, ErrorCode.NONE, members)
  reply(one(w))
}

const describeGroups: Handler = (b, r, req, reply) => {
  const groups = Groups.decodeDescribeGroups(r).map((id) => b.groups.describe(id))
  const w = new Writer(256)
  Groups.encodeDescribeGroups(w, req.header.apiVersion, groups)
  reply(one(w))
}

const listGroups: Handler = (b, _r, req, reply) => {
  const w = new Writer(256)
  Groups.encodeListGroups(w, req.header.apiVersion, b.groups.list())
  reply(one(w))
}

const offsetCommit: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const c = Offsets.decodeOffsetCommit(r, v)
  const offsets = c.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.index,
      committed: { offset: p.offset, metadata: p.metadata }
    }))
  )
  const code = b.groups.commit(c.groupId, c.generationId, c.memberId, offsets)
  const w = new Writer(128)
  Offsets.encodeOffsetCommit(
    w,
    v,
    c.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ index: p.index, errorCode: code })) }))
  )
  reply(one(w))
}

const offsetFetch: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const f = Offsets.decodeOffsetFetch(r, v)
  const committed = b.groups.committed(f.groupId)
  const wanted = f.topics ?? [...committed.entries()].map(([name, parts]) => ({ name, partitions: [...parts.keys()] }))
  const topics = wanted.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((index) => {
      if (f.requireStable && b.txns.hasPendingOffset(f.groupId, t.name, index)) {
        return { index, offset: -1, metadata: null, errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT }
      }
      const c = committed.get(t.name)?.get(index)
      return { index, offset: c?.offset ?? -1, metadata: c?.metadata ?? "", errorCode: 0 }
    })
  }))
  const w = new Writer(256)
  Offsets.encodeOffsetFetch(w, v, topics)
  reply(one(w))
}

const initProducerId: Handler = (b, r, _req, reply) => {
  const request = Produce.decodeInitProducerId(r)
  const w = new Writer(32)
  if (request.transactionalId !== null) {
    const res = b.txns.initProducerId(request.transactionalId, request.transactionTimeoutMs)
    Produce.encodeInitProducerId(w, res.errorCode, res.producerId, res.producerEpoch)
  } else {
    Produce.encodeInitProducerId(w, ErrorCode.NONE, b.nextProducerId++, 0)
  }
  reply(one(w))
}

const addPartitionsToTxn: Handler = (b, r, _req, reply) => {
  const request = Txn.decodeAddPartitionsToTxn(r)
  const flat = request.topics.flatMap((t) => t.partitions.map((p) => [t.name, p] as const))
  const codes = b.txns.addPartitions(request.transactionalId, request.producerId, request.producerEpoch, flat)
  let i = 0
  const w = new Writer(128)
  Txn.encodePartitionErrors(
    w,
    request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((index) => ({ index, errorCode: codes[i++]! }))
    }))
  )
  reply(one(w))
}

// A fault a test asked for: the request's error code, taken once, if it is to be refused.
const refusal = (b: BrokerContext, apiKey: number): number | undefined => {
  const code = b.refusals.get(apiKey)
  b.refusals.delete(apiKey)
  return code
}

const addOffsetsToTxn: Handler = (b, r, _req, reply) => {
  const request = Txn.decodeAddOffsetsToTxn(r)
  const w = new Writer(16)
  Txn.encodeThrottleAndError(
    w,
    refusal(b, ApiKey.AddOffsetsToTxn) ??
      b.txns.addOffsets(request.transactionalId, request.producerId, request.producerEpoch, request.groupId)
  )
  reply(one(w))
}

const txnOffsetCommit: Handler = (b, r, req, reply) => {
  const v = req.header.apiVersion
  const request = Txn.decodeTxnOffsetCommit(r, v)
  const offsets = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.index,
      committed: { offset: p.offset, metadata: p.metadata }
    }))
  )
  const code = b.txns.txnOffsetCommit(
    request.transactionalId,
    request.producerId,
    request.producerEpoch,
    request.groupId,
    offsets,
    request
  )
  const w = new Writer(128)
  Txn.encodeTxnOffsetCommit(
    w,
    v,
    request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ index: p.index, errorCode: code }))
    }))
  )
  reply(one(w))
}

const endTxn: Handler = (b, r, _req, reply) => {
  const request = Txn.decodeEndTxn(r)
  const code =
    refusal(b, ApiKey.EndTxn) ??
    b.txns.endTxn(request.transactionalId, request.producerId, request.producerEpoch, request.commit)
  b.afterProduce()
  const w = new Writer(16)
  Txn.encodeThrottleAndError(w, code)
  reply(one(w))
}

export const handlers: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [ApiKey.ApiVersions, apiVersions],
  [ApiKey.Metadata, metadata],
  [ApiKey.Produce, produce],
  [ApiKey.Fetch, fetch],
  [ApiKey.ListOffsets, listOffsets],
  [ApiKey.CreateTopics, createTopics],
  [ApiKey.DeleteTopics, deleteTopics],
  [ApiKey.FindCoordinator, findCoordinator],
  [ApiKey.JoinGroup, joinGroup],
  [ApiKey.SyncGroup, syncGroup],
  [ApiKey.Heartbeat, heartbeat],
  [ApiKey.LeaveGroup, leaveGroup],
  [ApiKey.DescribeGroups, describeGroups],
  [ApiKey.ListGroups, listGroups],
  [ApiKey.OffsetCommit, offsetCommit],
  [ApiKey.OffsetFetch, offsetFetch],
  [ApiKey.InitProducerId, initProducerId],
  [ApiKey.AddPartitionsToTxn, addPartitionsToTxn],
  [ApiKey.AddOffsetsToTxn, addOffsetsToTxn],
  [ApiKey.TxnOffsetCommit, txnOffsetCommit],
  [ApiKey.EndTxn, endTxn]
])
