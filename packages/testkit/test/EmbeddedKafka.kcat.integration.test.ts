import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"

/** kcat from PATH (Debian installs it as /usr/bin/kcat). */
const KCAT =
  (process.env.PATH ?? "")
    .split(path.delimiter)
    .map((dir) => path.join(dir, "kcat"))
    .find((file) => fs.existsSync(file)) ?? "kcat"
const hasKcat = KCAT !== "kcat"
if (!hasKcat && process.env.CI === "true") {
  throw new Error('kcat is required in CI but was not found on PATH; install the Debian package "kcat"')
}
if (!hasKcat) console.warn('skipping the kcat tests: kcat not found on PATH (install the Debian package "kcat")')

const run = (args: ReadonlyArray<string>, input?: string): Promise<string> =>
  new Promise((resolve, reject) => {
    if (input === undefined) {
      execFile(KCAT, args, { timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`kcat ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout)
      )
      return
    }
    const child = spawn(KCAT, args, { stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => {
      out += d
    })
    child.stderr.on("data", (d) => {
      err += d
    })
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`kcat exited ${code}: ${err}`))))
    child.stdin.end(input)
  })

const kafkaFor = (bootstrap: string) =>
  new Kafka({ brokers: [bootstrap], clientId: "kcat-test", logLevel: logLevel.NOTHING })

describe.skipIf(!hasKcat)("EmbeddedKafka with kcat (librdkafka)", () => {
  it.live("make - kcat produces and kafkajs consumes", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("from-kcat", 2)
      const lines = Array.from({ length: 10 }, (_, i) => `key${i}:value${i}`).join("\n")
      yield* Effect.promise(() => run(["-P", "-b", broker.bootstrap, "-t", "from-kcat", "-K:"], `${lines}\n`))
      const got = yield* Effect.promise(async () => {
        const consumer = kafkaFor(broker.bootstrap).consumer({ groupId: "kc", maxWaitTimeInMs: 100 })
        const out = new Map<string, string>()
        await consumer.connect()
        await consumer.subscribe({ topic: "from-kcat", fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            out.set(message.key!.toString(), message.value!.toString())
          }
        })
        const deadline = performance.now() + 20_000
        while (out.size < 10 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        await consumer.disconnect()
        return out
      })
      assert.strictEqual(got.size, 10)
      for (let i = 0; i < 10; i++) assert.strictEqual(got.get(`key${i}`), `value${i}`)
    })
  )

  it.live("make - kafkajs produces and kcat consumes", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("to-kcat", 1)
      yield* Effect.promise(async () => {
        const producer = kafkaFor(broker.bootstrap).producer()
        await producer.connect()
        await producer.send({
          topic: "to-kcat",
          messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))
        })
        await producer.disconnect()
      })
      const out = yield* Effect.promise(() =>
        run(["-C", "-b", broker.bootstrap, "-t", "to-kcat", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n"])
      )
      assert.deepStrictEqual(out.trim().split("\n"), ["k0=v0@0", "k1=v1@1", "k2=v2@2", "k3=v3@3", "k4=v4@4"])
    })
  )

  it.live("make - a kcat consumer group reads from the beginning and commits", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("kcat-group", 1)
      yield* Effect.promise(() => run(["-P", "-b", broker.bootstrap, "-t", "kcat-group"], "a\nb\nc\n"))
      const out = yield* Effect.promise(() =>
        run([
          "-b",
          broker.bootstrap,
          "-G",
          "rdgroup",
          "-X",
          "auto.offset.reset=earliest",
          "-e",
          "-q",
          "-f",
          "%s@%o\n",
          "kcat-group"
        ])
      )
      assert.deepStrictEqual(out.trim().split("\n"), ["a@0", "b@1", "c@2"])
      const committed = yield* broker.committedOffsets("rdgroup")
      assert.strictEqual(committed.get("kcat-group")?.get(0), 3)
    })
  )

  it.live("make - kcat -L lists brokers and topics", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ nodeId: 7 })
      yield* broker.createTopic("listed", 3)
      const out = yield* Effect.promise(() => run(["-L", "-b", broker.bootstrap, "-J"]))
      const meta = JSON.parse(out) as {
        brokers: Array<{ id: number; name: string }>
        topics: Array<{ topic: string; partitions: Array<{ partition: number; leader: number }> }>
      }
      assert.deepStrictEqual(
        meta.brokers.map((b) => b.id),
        [7]
      )
      assert.strictEqual(meta.brokers[0]!.name, broker.bootstrap)
      const listed = meta.topics.find((t) => t.topic === "listed")
      assert.strictEqual(listed?.partitions.length, 3)
      assert.isTrue(listed!.partitions.every((p) => p.leader === 7))
    })
  )

  it.live(
    "make - a kcat static member killed and restarted with its group.instance.id gets its partition back without a rebalance",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("static", 2)
        /** A long-running kcat group consumer; `log` collects its stderr (group events). */
        const consumer = (instance: string) => {
          const child = spawn(
            KCAT,
            [
              "-b",
              broker.bootstrap,
              "-G",
              "static-group",
              "-X",
              `group.instance.id=${instance}`,
              "-X",
              "session.timeout.ms=10000",
              "-X",
              "heartbeat.interval.ms=100",
              "-o",
              "beginning",
              "static"
            ],
            { stdio: ["ignore", "ignore", "pipe"] }
          )
          const state = { log: "", child }
          child.stderr.on("data", (d) => {
            state.log += d
          })
          return state
        }
        const assigned = (log: string) => log.split("\n").filter((l) => l.includes("assigned:"))
        const until = async (what: string, cond: () => boolean) => {
          const deadline = performance.now() + 20_000
          while (!cond()) {
            if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
            await new Promise((r) => setTimeout(r, 20))
          }
        }
        const generation = () => Effect.runPromise(broker.groupGeneration("static-group"))
        const result = yield* Effect.promise(async () => {
          const a = consumer("pod-a")
          await until("a's first assignment", () => assigned(a.log).length >= 1)
          const b = consumer("pod-b")
          await until("the two-member assignment", () => assigned(b.log).length >= 1 && assigned(a.log).length >= 2)
          const before = await generation()
          const bAssignment = assigned(b.log)[0]!.split("assigned:")[1]!.trim()
          // A crash: no LeaveGroup, the old member's session is still alive when its successor joins.
          b.child.kill("SIGKILL")
          const b2 = consumer("pod-b")
          await until("the restarted member's assignment", () => assigned(b2.log).length >= 1)
          const after = await generation()
          const b2Assignment = assigned(b2.log)[0]!.split("assigned:")[1]!.trim()
          const aAssignments = assigned(a.log).length
          a.child.kill("SIGKILL")
          b2.child.kill("SIGKILL")
          return { before, after, bAssignment, b2Assignment, aAssignments }
        })
        assert.strictEqual(result.after, result.before)
        assert.strictEqual(result.b2Assignment, result.bAssignment)
        assert.strictEqual(result.aAssignments, 2)
      })
  )
})
