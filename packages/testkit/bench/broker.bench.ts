/**
 * Throughput and latency of the embedded broker with kafkajs, run with
 * `node packages/testkit/bench/broker.bench.ts [--out file.json]`
 * (default: `bench/results/broker.json` at the repository root).
 *
 * 1. produce 200,000 messages of ~200 bytes in sends of 1,000 to a 3-partition topic (acks -1, no compression);
 * 2. consume them back with a consumer group;
 * 3. p50/p99 of single-message sends;
 * 4. CPU time of a broker process over 5 idle seconds with a subscribed kafkajs consumer;
 * 5. long-poll fetches under a steady trickle of appends (2,000 single-record batches a second
 *    over 6 partitions for 4 s) with `minBytes` 64 KiB and `maxWait` 20 ms, against the same
 *    trickle fetched with `minBytes` 1: broker CPU and fetch round trips of each;
 * baseline: the same 200 batches sent as pre-encoded Produce frames over one raw socket,
 * which measures the broker alone; kafkajs figures are reported as a ratio of it.
 */

import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"
import { Reader } from "../src/internal/protocol/reader.ts"
import { encodeBatch } from "../src/internal/protocol/recordBatch.ts"
import { Writer } from "../src/internal/protocol/writer.ts"

const { values } = parseArgs({
  options: { out: { type: "string", default: new URL("../../../bench/results/broker.json", import.meta.url).pathname } }
})

const TOTAL = 200_000
const BATCH = 1_000
const PARTITIONS = 3
const value = Buffer.alloc(200, "x")

const rawProduce = async (port: number, topic: string): Promise<number> => {
  const batches = Array.from({ length: TOTAL / BATCH }, () =>
    encodeBatch(Array.from({ length: BATCH }, () => ({ value })))
  )
  const socket = net.connect({ host: "127.0.0.1", port })
  await new Promise((r) => socket.once("connect", r))
  socket.setNoDelay(true)
  let pending: (() => void) | null = null
  let buffered = Buffer.alloc(0)
  socket.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk])
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      buffered = buffered.subarray(4 + buffered.readInt32BE(0))
      pending?.()
    }
  })
  const start = performance.now()
  for (const [i, batch] of batches.entries()) {
    const w = new Writer(batch.length + 64)
    w.int32(0).int16(0).int16(7).int32(i).nullableString("bench")
    w.nullableString(null)
      .int16(-1)
      .int32(30_000)
      .int32(1)
      .string(topic)
      .int32(1)
      .int32(i % PARTITIONS)
      .bytes(batch)
    const frame = w.toBuffer()
    frame.writeInt32BE(frame.length - 4, 0)
    await new Promise<void>((r) => {
      pending = r
      socket.write(frame)
    })
  }
  const ms = performance.now() - start
  socket.destroy()
  return ms
}

const percentile = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

/** Reads a process's user+system CPU time in ms from /proc (Linux). */
const procCpuMs = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

const freePort = async (): Promise<number> => {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((r) => probe.close(r))
  return port
}

/** A socket that sends raw request frames and resolves each with its response body. */
const rawSocket = async (port: number) => {
  const socket = net.connect({ host: "127.0.0.1", port })
  await new Promise((r) => socket.once("connect", r))
  socket.setNoDelay(true)
  const waiting: Array<(body: Buffer) => void> = []
  let buffered = Buffer.alloc(0)
  socket.on("data", (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      const size = buffered.readInt32BE(0)
      const body = buffered.subarray(8, 4 + size)
      buffered = buffered.subarray(4 + size)
      waiting.shift()?.(body)
    }
  })
  let id = 0
  const send = (apiKey: number, version: number, body: (w: Writer) => void) =>
    new Promise<Buffer>((resolve) => {
      const w = new Writer(256)
      w.int32(0).int16(apiKey).int16(version).int32(id++).nullableString("bench")
      body(w)
      const frame = w.toBuffer()
      frame.writeInt32BE(frame.length - 4, 0)
      waiting.push(resolve)
      socket.write(frame)
    })
  return { send, close: () => socket.destroy() }
}

/** Next fetch offset of each partition after a Fetch v4 response (whole batches only). */
const advance = (body: Buffer, offsets: Array<number>): void => {
  const r = new Reader(body)
  r.int32()
  r.array((r) => {
    r.string()
    r.array((r) => {
      const index = r.int32()
      r.int16()
      r.int64()
      r.int64()
      r.nullableArray((r) => [r.int64(), r.int64()])
      const records = r.bytes()
      for (let at = 0; at + 61 <= records.length; ) {
        const size = records.readInt32BE(at + 8) + 12
        if (at + size > records.length) break
        offsets[index] = Number(records.readBigInt64BE(at)) + records.readInt32BE(at + 23) + 1
        at += size
      }
    })
  })
}

const POLL_PARTITIONS = 6
const POLL_SECONDS = 4
const POLL_RATE = 2000

/**
 * Long-poll cost: one raw consumer fetches every partition in a loop while a raw producer appends
 * single-record batches at a fixed rate; the broker runs in its own process so its CPU is its own.
 */
const measureLongPoll = async (minBytes: number) => {
  const port = await freePort()
  const child = spawn(process.execPath, [new URL("../src/main.ts", import.meta.url).pathname, "--port", String(port)], {
    stdio: "ignore"
  })
  try {
    const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: "poll", logLevel: logLevel.NOTHING })
    const admin = kafka.admin({ retry: { retries: 10 } })
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: "poll", numPartitions: POLL_PARTITIONS }] })
    await admin.disconnect()
    const producer = await rawSocket(port)
    const consumer = await rawSocket(port)
    const batch = encodeBatch([{ value }])
    const offsets = Array.from({ length: POLL_PARTITIONS }, () => 0)
    let running = true
    let fetches = 0
    const loop = (async () => {
      while (running) {
        const body = await consumer.send(1, 4, (w) => {
          w.int32(-1)
            .int32(20)
            .int32(minBytes)
            .int32(50 * 1024 * 1024)
            .int8(0)
          w.int32(1).string("poll").int32(POLL_PARTITIONS)
          for (let p = 0; p < POLL_PARTITIONS; p++)
            w.int32(p)
              .int64(offsets[p]!)
              .int32(1024 * 1024)
        })
        advance(body, offsets)
        fetches++
      }
    })()
    const cpu0 = procCpuMs(child.pid!)
    const start = performance.now()
    let sent = 0
    // Appends in 10 ms ticks at the target rate; each is its own produce request, as a busy service sends.
    while (performance.now() - start < POLL_SECONDS * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * POLL_RATE)
      const acks: Array<Promise<Buffer>> = []
      for (; sent < due; sent++) {
        acks.push(
          producer.send(0, 7, (w) => {
            w.nullableString(null).int16(1).int32(30_000).int32(1).string("poll").int32(1)
            w.int32(sent % POLL_PARTITIONS).bytes(batch)
          })
        )
      }
      await Promise.all(acks)
      await new Promise((r) => setTimeout(r, 10))
    }
    const wall = performance.now() - start
    const cpu = procCpuMs(child.pid!) - cpu0
    const deadline = performance.now() + 5000
    while (offsets.reduce((a, b) => a + b, 0) < sent && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    running = false
    await loop
    producer.close()
    consumer.close()
    return {
      appends: sent,
      delivered: offsets.reduce((a, b) => a + b, 0),
      fetches,
      brokerCpuPercent: Number(((cpu / wall) * 100).toFixed(2))
    }
  } finally {
    child.kill("SIGTERM")
  }
}

/**
 * Idle cost: the broker runs in a child process (the standalone entry) so its CPU time is measured
 * apart from kafkajs, whose own idle timers cost a few percent of a core.
 */
const measureIdle = async () => {
  const port = await freePort()
  const child = spawn(process.execPath, [new URL("../src/main.ts", import.meta.url).pathname, "--port", String(port)], {
    stdio: "ignore"
  })
  try {
    const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: "idle", logLevel: logLevel.NOTHING })
    const admin = kafka.admin({ retry: { retries: 10 } })
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: "idle", numPartitions: 1 }] })
    await admin.disconnect()
    const idle = kafka.consumer({ groupId: "idle", maxWaitTimeInMs: 5000 })
    await idle.connect()
    await idle.subscribe({ topic: "idle", fromBeginning: true })
    await idle.run({ eachMessage: async () => {} })
    await new Promise((r) => setTimeout(r, 1500))
    const broker0 = procCpuMs(child.pid!)
    const client0 = process.cpuUsage()
    const w0 = performance.now()
    await new Promise((r) => setTimeout(r, 5000))
    const wall = performance.now() - w0
    const client = process.cpuUsage(client0)
    const broker = procCpuMs(child.pid!) - broker0
    await idle.disconnect()
    return {
      idleWindowMs: Math.round(wall),
      idleBrokerCpuMs: broker,
      idleBrokerCpuPercent: Number(((broker / wall) * 100).toFixed(2)),
      idleKafkajsClientCpuMs: Number(((client.user + client.system) / 1000).toFixed(1))
    }
  } finally {
    child.kill("SIGTERM")
  }
}

const program = Effect.gen(function* () {
  const broker = yield* EmbeddedKafka.make()
  yield* broker.createTopic("baseline", PARTITIONS)
  yield* broker.createTopic("bench", PARTITIONS)
  yield* broker.createTopic("latency", 1)
  return yield* Effect.promise(async () => {
    const idleCpu = await measureIdle()
    const pollMin1 = await measureLongPoll(1)
    const pollMin64k = await measureLongPoll(64 * 1024)
    const kafka = new Kafka({ brokers: [broker.bootstrap], clientId: "bench", logLevel: logLevel.ERROR })
    const rawMs = await rawProduce(broker.port, "baseline")
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: BATCH }, (_, i) => ({ value, key: null, partition: i % PARTITIONS }))
    const p0 = performance.now()
    for (let i = 0; i < TOTAL / BATCH; i++) {
      await producer.send({ topic: "bench", messages: messages.map((m) => ({ ...m, partition: i % PARTITIONS })) })
    }
    const produceMs = performance.now() - p0

    const consumer = kafka.consumer({ groupId: "bench", maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: "bench", fromBeginning: true })
    let consumed = 0
    let c0 = 0
    const finished = new Promise<number>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          if (c0 === 0) c0 = performance.now()
          consumed += batch.messages.length
          if (consumed >= TOTAL) resolve(performance.now())
        }
      })
    })
    const c1 = await finished
    const consumeMs = c1 - c0
    await consumer.disconnect()

    const latencies: Array<number> = []
    for (let i = 0; i < 600; i++) {
      const t = performance.now()
      await producer.send({ topic: "latency", messages: [{ value }] })
      if (i >= 100) latencies.push(performance.now() - t)
    }
    await producer.disconnect()

    const result = {
      messages: TOTAL,
      messageBytes: value.length,
      batch: BATCH,
      partitions: PARTITIONS,
      baselineRawProduceMsgsPerSec: Math.round(TOTAL / (rawMs / 1000)),
      kafkajsProduceMsgsPerSec: Math.round(TOTAL / (produceMs / 1000)),
      kafkajsConsumeMsgsPerSec: Math.round(TOTAL / (consumeMs / 1000)),
      produceRatioToBaseline: Number((rawMs / produceMs).toFixed(3)),
      singleSendP50Ms: Number(percentile(latencies, 50).toFixed(3)),
      singleSendP99Ms: Number(percentile(latencies, 99).toFixed(3)),
      ...idleCpu,
      longPollAppendsPerSec: POLL_RATE,
      longPollMinBytes1BrokerCpuPercent: pollMin1.brokerCpuPercent,
      longPollMinBytes1Fetches: pollMin1.fetches,
      longPollMinBytes64kBrokerCpuPercent: pollMin64k.brokerCpuPercent,
      longPollMinBytes64kFetches: pollMin64k.fetches,
      longPollCpuRatio64kTo1: Number((pollMin64k.brokerCpuPercent / pollMin1.brokerCpuPercent).toFixed(3)),
      longPollAllDelivered: pollMin1.delivered === pollMin1.appends && pollMin64k.delivered === pollMin64k.appends
    }
    return result
  })
})

Effect.runPromise(Effect.scoped(program)).then(
  (result) => {
    console.table(Object.entries(result).map(([metric, v]) => ({ metric, value: v })))
    fs.mkdirSync(path.dirname(values.out), { recursive: true })
    fs.writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`wrote ${values.out}`)
    process.exit(0)
  },
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
