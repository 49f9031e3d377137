// The sluice processes a scenario runs: the embedded broker (on a port that
// stays the same across restarts, with a data directory), the enrich job
// (ready once its /readyz answers 200), the generator, and the database
// preparation through `sluice db migrate` and `sluice db seed`.
import { Effect, type Scope } from "effect"
import * as Processes from "./processes.ts"

/** The broker address and directory a scenario keeps across broker restarts. */
export interface BrokerSpec {
  readonly port: number
  readonly dataDir: string
}

/** Starts `sluice broker` and waits until it prints that it listens. */
export const startBroker = (spec: BrokerSpec): Effect.Effect<Processes.Sluice, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const broker = yield* Processes.start(
      "broker",
      ["broker", "--port", String(spec.port), "--data-dir", spec.dataDir],
      {}
    )
    yield* Processes.eventually(
      "broker listening",
      Effect.andThen(Processes.alive(broker), () =>
        /listening on /.test(broker.output().stdout) ? Effect.void : Effect.fail("not yet")
      ),
      "30 seconds",
      "50 millis"
    )
    return broker
  })

/** A job process and the port of its metrics server. */
export interface Job extends Processes.Sluice {
  readonly metricsPort: number
}

/** An enrich job and the port of its metrics server. */
export type EnrichJob = Job

const get = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    return { status: response.status, body: await response.text() }
  })

/** Succeeds once the job's /readyz answers 200 (broker, database, partitions assigned). */
export const readyz = (job: Job): Effect.Effect<void, unknown> =>
  get(`http://127.0.0.1:${job.metricsPort}/readyz`).pipe(
    Effect.flatMap((r) => (r.status === 200 ? Effect.void : Effect.fail(r.body)))
  )

/** Starts `sluice <args> --metrics-port <a free port>` without waiting for anything. */
export const spawnJob = (
  name: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>
): Effect.Effect<Job, never, Scope.Scope> =>
  Effect.gen(function* () {
    const metricsPort = yield* Processes.freePort
    const process = yield* Processes.start(name, [...args, "--metrics-port", String(metricsPort)], env)
    return { ...process, metricsPort }
  })

/**
 * Starts `sluice <args> --metrics-port <a free port>` and waits until `ready`
 * succeeds (by default: until /readyz says ready).
 */
export const startJob = (
  name: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  ready: (job: Job) => Effect.Effect<void, unknown> = readyz
): Effect.Effect<Job, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const job = yield* spawnJob(name, args, env)
    yield* Processes.eventually(
      `${name} ready`,
      Effect.andThen(Processes.alive(job), () => ready(job)),
      "90 seconds",
      "100 millis"
    )
    return job
  })

/**
 * Starts `sluice claims enrich` and waits until /readyz says ready (broker,
 * database, partitions assigned). After a SIGKILL the group hands partitions
 * over only once the dead member's session (30 s) has timed out.
 */
export const startEnrich = (
  name: string,
  env: Record<string, string>,
  flags: ReadonlyArray<string> = []
): Effect.Effect<EnrichJob, Error, Scope.Scope> => startJob(name, enrichArgs(flags), env)

/** The arguments `startEnrich` runs `sluice` with. */
export const enrichArgs = (flags: ReadonlyArray<string> = []): ReadonlyArray<string> => [
  "claims",
  "enrich",
  "--concurrency",
  "128",
  ...flags
]

/** One sample of a Prometheus text exposition: name, labels and value. */
export interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** Reads a job's /metrics. */
export const metrics = (job: Job): Effect.Effect<ReadonlyArray<Sample>, unknown> =>
  get(`http://127.0.0.1:${job.metricsPort}/metrics`).pipe(Effect.map((r) => parseMetrics(r.body)))

const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses Prometheus text format lines (comments skipped). */
export const parseMetrics = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").flatMap((l) => {
    const m = line.exec(l)
    if (m === null || l.startsWith("#")) return []
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? "").matchAll(label)) labels[k!] = v!
    return [{ name: m[1]!, labels, value: Number(m[3]) }]
  })

/** Options of one `sluice generate` run. */
export interface Generate {
  readonly count: number
  readonly eventsPerSecond: number
  readonly seed: number
  readonly claims: number
  readonly invalidRate?: number
}

/** Starts `sluice generate`; await it with `Processes.awaitSuccess`. */
export const startGenerate = (env: Record<string, string>, g: Generate) =>
  Processes.start(
    "generate",
    [
      "generate",
      ...["--count", String(g.count), "--events-per-second", String(g.eventsPerSecond)],
      ...["--seed", String(g.seed), "--claims", String(g.claims), "--valid-claim-rate", "0.9"],
      ...["--invalid-rate", String(g.invalidRate ?? 0), "--partitions", "6"]
    ],
    env
  )

/** Creates the claims table and seeds `claims` claims through the CLI. */
export const prepareDatabase = (databaseUrl: string, claims: number) =>
  Effect.gen(function* () {
    yield* Processes.runToEnd("db migrate", ["db", "migrate"], { DATABASE_URL: databaseUrl })
    yield* Processes.runToEnd("db seed", ["db", "seed", "--claims", String(claims)], { DATABASE_URL: databaseUrl })
  })
