// What every scenario shares: a database of its own seeded through the CLI,
// a `sluice broker` process with a data directory on a port of its own, a
// Kafka admin connection, the commit-lag sampler, and at the end the drain
// (the enrich group committed to the end of the input), the read-back and the
// reconciliation.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { freshDatabase } from "../../packages/runner/test/support/database.ts"
import * as Checks from "./checks.ts"
import * as Jobs from "./jobs.ts"
import * as Processes from "./processes.ts"
import type { Row } from "./table.ts"
import * as Topics from "./topics.ts"

/** The consumer group of the enrich job in every scenario. */
export const group = "reliability-enrich"

/** Claims in each scenario's database; the generator draws 90% of claim ids among them. */
export const claims = 5_000

/**
 * What every scenario needs, whatever its job: a database of its own, a
 * broker with a data directory, an admin connection, and the start time.
 * Everything is released when the scope closes.
 */
export const base = (name: string) =>
  Effect.gen(function* () {
    const db = yield* freshDatabase(`reliability_${name.replace(/\W/g, "_")}`)
    const dataDir = yield* temporaryDirectory
    const brokerSpec: Jobs.BrokerSpec = { port: yield* Processes.freePort, dataDir }
    const broker = yield* Jobs.startBroker(brokerSpec)
    const bootstrap = `127.0.0.1:${brokerSpec.port}`
    const { kafka, admin } = yield* Topics.connect(bootstrap)
    const started = Date.now()
    return { db, brokerSpec, broker, bootstrap, kafka, admin, started }
  })

/** A directory of its own, deleted when the scope closes. */
export const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-reliability-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Sets a claims scenario up: `base`, the claims seeded, and the enrich group's commit-lag sampler. */
export const setup = (name: string) =>
  Effect.gen(function* () {
    const b = yield* base(name)
    yield* Jobs.prepareDatabase(b.db.url, claims)
    const env: Record<string, string> = {
      KAFKA_BOOTSTRAP_SERVERS: b.bootstrap,
      DATABASE_URL: b.db.url,
      GROUP_ID: group
    }
    const lag = yield* Topics.lagSampler(b.admin, group, Checks.topics.input)
    return { ...b, env, lag, started: Date.now() }
  })

export type Setup = Effect.Success<ReturnType<typeof setup>>

/** What a poll checks is still running: a process, or a supervised job (gone once its supervisor gave up). */
export type Watched = Processes.Sluice | { readonly alive: Effect.Effect<void> }

const aliveOf = (w: Watched) => ("alive" in w ? w.alive : Processes.alive(w))

/** Waits until the enrich group has committed every input partition to its end. */
export const drained = (s: Setup, within: Watched | undefined = undefined) =>
  Processes.eventually(
    "enrich group committed to the end of the input",
    Effect.gen(function* () {
      if (within !== undefined) yield* aliveOf(within)
      const lag = yield* Topics.commitLag(s.admin, group, Checks.topics.input)
      if (lag > 0) return yield* Effect.fail(`lag ${lag}`)
    }),
    "6 minutes",
    "500 millis"
  )

/** Records written to the output topics so far (replays included). */
export const outputs = (s: Setup) =>
  Effect.gen(function* () {
    let n = 0
    for (const topic of [Checks.topics.enriched, Checks.topics.failed, Checks.topics.deadLetter]) {
      const ends = yield* Topics.endOffsets(s.admin, topic).pipe(Effect.orElseSucceed(() => new Map()))
      for (const { low, high } of ends.values()) n += high - low
    }
    return n
  })

/** Waits until the output topics hold at least `n` records: the job is under load. */
export const progressed = (s: Setup, n: number, job: Watched) =>
  Processes.eventually(
    `${n} outputs written`,
    Effect.gen(function* () {
      yield* aliveOf(job)
      const written = yield* outputs(s)
      if (written < n) return yield* Effect.fail(`${written} outputs`)
    }),
    "3 minutes",
    "200 millis"
  )

/** Reads the input and every output topic back and reconciles them. */
export const reconcile = (s: Setup) =>
  Effect.gen(function* () {
    const inputs = yield* Topics.readAll(s.kafka, s.admin, [Checks.topics.input])
    const outputs = yield* Topics.readAll(s.kafka, s.admin, [
      Checks.topics.enriched,
      Checks.topics.failed,
      Checks.topics.deadLetter
    ])
    return Checks.reconcile(inputs, outputs)
  })

/** The summary row of a reconciliation. */
export const row = (scenario: string, s: Setup, r: Checks.Reconciliation, note = ""): Row => ({
  scenario,
  events: r.events,
  missing: r.missing.length,
  duplicates: r.duplicates,
  deadLetters: r.deadLetters,
  maxCommitLag: s.lag.max(),
  seconds: (Date.now() - s.started) / 1000,
  note
})

const sample = (ids: ReadonlyArray<string>) => `${ids.length} (${ids.slice(0, 5).join(", ")})`

/** The checks every scenario makes: nothing missing, nothing conflicting or misplaced. */
export const assertComplete = (r: Checks.Reconciliation) => {
  assert.isAbove(r.events, 0, "no input at all")
  assert.strictEqual(r.missing.length, 0, `missing: ${sample(r.missing)}`)
  assert.strictEqual(r.conflicts.length, 0, `different outputs for one input: ${sample(r.conflicts)}`)
  assert.strictEqual(r.misrouted.length, 0, `in the wrong topic: ${sample(r.misrouted)}`)
  assert.strictEqual(r.strays, 0, "outputs that match no input")
  assert.strictEqual(r.withoutReason, 0, "dead letters without a reason header")
}
