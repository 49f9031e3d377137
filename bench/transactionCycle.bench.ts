/**
 * One exactly-once commit cycle of one input partition, as kafkajs runs it
 * for `Transactions`: begin, send the outputs, send the input offset, commit.
 * Times cycles one after another against the embedded broker (a `sluice
 * broker` child), `--producers` of them side by side (one per input
 * partition, as the claims job's six), with this checkout's kafkajs and,
 * alternating, another checkout's (`--other-root`): how much of a commit's
 * wait the client's round trips are.
 *
 *   node bench/transactionCycle.bench.ts [--cycles N] [--rounds N] [--messages N] [--producers N] [--other-root DIR]
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import { parseArgs } from "node:util"
import type * as KafkaJs from "kafkajs"
import { spawnNode, stopAll } from "./support/nodeChild.ts"
import { type Percentiles, percentiles } from "./support/percentiles.ts"

const { values: flags } = parseArgs({
  options: {
    cycles: { type: "string", default: "500" },
    rounds: { type: "string", default: "3" },
    messages: { type: "string", default: "20" },
    producers: { type: "string", default: "6" },
    "other-root": { type: "string" }
  }
})
const CYCLES = Number(flags.cycles)
const ROUNDS = Number(flags.rounds)
const MESSAGES = Number(flags.messages)
const PRODUCERS = Number(flags.producers)
const root = join(import.meta.dirname, "..")

const kafkajsOf = (checkout: string): typeof KafkaJs =>
  createRequire(join(checkout, "packages", "kafka", "package.json"))("kafkajs")

const clients = [
  { label: "this checkout", kafkajs: kafkajsOf(root) },
  ...(flags["other-root"] === undefined
    ? []
    : [{ label: flags["other-root"], kafkajs: kafkajsOf(flags["other-root"]) }])
]

const shown = (p: Percentiles) => `${p.p50.toFixed(1)} / ${p.p95.toFixed(1)} / ${p.p99.toFixed(1)}`

// Milliseconds of each of `CYCLES` cycles of one transactional producer, committing input partition `input`.
const cycles = async (kafkajs: typeof KafkaJs, brokers: string, id: string, input: number) => {
  const kafka = new kafkajs.Kafka({ brokers: [brokers], clientId: id, logLevel: kafkajs.logLevel.NOTHING })
  const producer = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = Array.from({ length: MESSAGES }, (_, i) => ({ key: `k${i}`, value: `payment ${i}`.repeat(10) }))
  const took: Array<number> = []
  for (let i = 0; i < CYCLES; i++) {
    const started = performance.now()
    const txn = await producer.transaction()
    await txn.send({ topic: "cycle-out", messages, acks: -1 })
    await txn.sendOffsets({
      consumerGroupId: "cycle-group",
      topics: [{ topic: "cycle-in", partitions: [{ partition: input, offset: String(i + 1) }] }]
    })
    await txn.commit()
    took.push(performance.now() - started)
  }
  await producer.disconnect()
  return took
}

const main = async () => {
  try {
    const broker = spawnNode(join(root, "packages", "runner", "bin", "sluice.js"), ["broker", "--port", "0"])
    const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
    const admin = new clients[0]!.kafkajs.Kafka({ brokers: [brokers], logLevel: 0 }).admin()
    await admin.connect()
    await admin.createTopics({
      topics: [
        { topic: "cycle-in", numPartitions: PRODUCERS },
        { topic: "cycle-out", numPartitions: 6 }
      ],
      waitForLeaders: true
    })
    await admin.disconnect()
    const results = new Map<string, Array<number>>(clients.map((c) => [c.label, []]))
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so neither always gets the warmer machine.
      const order = round % 2 === 0 ? clients : [...clients].reverse()
      for (const c of order) {
        const each = await Promise.all(
          Array.from({ length: PRODUCERS }, (_, p) =>
            cycles(c.kafkajs, brokers, `cycle-${round}-${clients.indexOf(c)}-${p}`, p)
          )
        )
        const took = each.flat()
        console.error(`round ${round + 1} ${c.label}: cycle p50 / p95 / p99 ${shown(percentiles(took))} ms`)
        results.get(c.label)!.push(...took)
      }
    }
    console.log(`\n${PRODUCERS} producers × ${CYCLES} cycles × ${ROUNDS} rounds, ${MESSAGES} messages each\n`)
    console.log("| kafkajs of | cycle p50 / p95 / p99 ms |\n| --- | ---: |")
    for (const [label, took] of results) console.log(`| ${label} | ${shown(percentiles(took))} |`)
  } finally {
    await stopAll()
  }
}

await main()
