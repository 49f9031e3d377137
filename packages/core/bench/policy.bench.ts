/**
 * Cost of a call under a `Policy`, each reported per call and as a ratio
 * against a baseline measured in the same run: the same loop running the bare
 * effect. The figure that matters is the rejected call: an open circuit must
 * turn a call away for a small, fixed cost and without running anything.
 *
 *   node packages/core/bench/policy.bench.ts [calls]
 *
 * - unguarded: the bare effect (baseline)
 * - timeout + retry: a succeeding call under a policy without breaker
 * - closed breaker: a succeeding call under the full policy
 * - rejected (open): a call the open breaker rejects
 * - Effect's CircuitBreaker alone, rejecting: what the breaker itself costs,
 *   so the policy's own share of a rejection shows
 *
 * A rejection costs more than a success: it builds two error values (the
 * breaker's and the `PolicyError`, both schema classes that capture a stack)
 * and runs the breaker's admission in its own scope. It runs no effect, no
 * timeout and no retry; the script fails if the guarded effect ever ran.
 */
import { Effect, Metric } from "effect"
import { CircuitBreaker } from "effect/persistence"
import * as Policy from "../src/Policy.ts"

const n = Number(process.argv[2] ?? 100_000)

class Down extends Error {
  readonly isRetryable = true
}

const loop = <E>(call: Effect.Effect<number, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) yield* Effect.ignore(call)
  })

const time = async (effect: Effect.Effect<unknown>): Promise<number> => {
  // one warm-up run, then the best of three
  await Effect.runPromise(effect)
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    await Effect.runPromise(effect)
    best = Math.min(best, performance.now() - start)
  }
  return best
}

const work = Effect.succeed(1)
let executions = 0
const counted = Effect.sync(() => ++executions)

const main = Effect.gen(function* () {
  const retryOnly = yield* Policy.make({
    name: "bench-retry",
    timeout: "5 seconds",
    retry: { base: "10 millis", maxAttempts: 3 }
  })
  const full = yield* Policy.make({
    name: "bench-closed",
    timeout: "5 seconds",
    retry: { base: "10 millis", maxAttempts: 3 },
    breaker: { trip: { _tag: "consecutive", failures: 5 }, openDuration: "1 hour" }
  })
  const open = yield* Policy.make({
    name: "bench-open",
    timeout: "5 seconds",
    retry: { base: "10 millis", maxAttempts: 1 },
    breaker: { trip: { _tag: "consecutive", failures: 1 }, openDuration: "1 hour" }
  })
  yield* Effect.ignore(open.run(Effect.fail(new Down())))
  if ((yield* open.breakerState) !== "open") throw new Error("the breaker should be open")
  const raw = yield* CircuitBreaker.make({ tripPolicy: CircuitBreaker.consecutive(1), openDuration: "1 hour" }).pipe(
    Effect.provide(CircuitBreaker.layerStoreMemory())
  )
  yield* Effect.ignore(raw.execute(Effect.fail(new Down()), { key: "bench-raw" }))
  return { retryOnly, full, open, raw }
}).pipe(Effect.scoped)

const { retryOnly, full, open, raw } = await Effect.runPromise(main)

const rows: Array<readonly [string, Effect.Effect<unknown>]> = [
  ["unguarded (baseline)", loop(work)],
  ["timeout + retry, success", loop(retryOnly.run(work))],
  ["closed breaker + timeout + retry, success", loop(full.run(work))],
  ["rejected by the open breaker", loop(Effect.as(open.run(counted), 1))],
  ["Effect's CircuitBreaker alone, rejecting", loop(Effect.as(raw.execute(counted, { key: "bench-raw" }), 1))]
]

const results: Array<readonly [string, number]> = []
for (const [name, effect] of rows) {
  results.push([name, await time(effect.pipe(Effect.provideService(Metric.MetricRegistry, new Map())))])
}
const baseline = results[0]![1]
for (const [name, ms] of results) {
  console.log(
    `${name.padEnd(44)} ${((ms * 1e6) / n).toFixed(0).padStart(8)} ns/call   ${(ms / baseline).toFixed(1).padStart(6)}x baseline`
  )
}
console.log(`effects run while the breaker was open: ${executions}`)
if (executions !== 0) process.exit(1)
