/**
 * The README's claims lookup: built over PostgreSQL, guarded by a policy and
 * cached. The database is `DATABASE_URL`, else a server on 127.0.0.1:5432,
 * else an embedded one; the example seeds a schema of its own there and drops
 * it at the end. Run it with `node examples/lookup.ts`; the last line is a
 * JSON summary.
 */
// #region readme
import { Policy } from "@sluice/core"
import { Lookup, PgLookup } from "@sluice/lookup"
// #endregion
import * as EmbeddedPostgres from "@sluice/runner/EmbeddedPostgres"
// #region readme
import * as Claims from "@sluice/runner/jobs/claims/ClaimsTable"
// #endregion
import { BigDecimal, Effect, Option, Redacted } from "effect"
import postgres from "postgres"

/** Claims seeded: `CLM-000001` to `CLM-000050`, see `Claims.seedRows`. */
export const seeded = 50
/** The ids the example asks for; the last one is not seeded. */
export const asked: ReadonlyArray<string> = ["CLM-000042", "CLM-000007", "CLM-999999"]

// A schema of its own, chosen by the connection's search_path, keeps the
// example away from every other user of the same database.
const exampleDatabase = Effect.gen(function* () {
  const server = Redacted.value(yield* EmbeddedPostgres.resolveDatabaseUrl)
  const schema = `sluice_example_${Math.random().toString(36).slice(2, 10)}`
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(server, { max: 1, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Effect.acquireRelease(
    Effect.promise(() => admin.unsafe(`CREATE SCHEMA ${schema}`)),
    () => Effect.promise(() => admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))
  )
  const url = `${server}${server.includes("?") ? "&" : "?"}search_path=${schema}`
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  yield* Claims.migrate(sql)
  yield* Claims.seed(sql, { count: seeded })
  yield* Effect.promise(() => sql.end({ timeout: 2 }))
  return Redacted.make(url)
})

const show = (claim: Option.Option<Claims.Claim>) =>
  Option.match(claim, {
    onNone: () => null,
    onSome: (c) => ({ claim_id: c.claim_id, member_id: c.member_id, claim_amount: BigDecimal.format(c.claim_amount) })
  })

const main = Effect.gen(function* () {
  const databaseUrl = yield* exampleDatabase
  // #region readme
  const pg = yield* PgLookup.makeClient({ url: databaseUrl, statementTimeout: "2 seconds" })
  const claims = yield* Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, pg))
  const policy = yield* Policy.make({
    name: "claims-db",
    timeout: "5 seconds",
    retry: { base: "100 millis", maxAttempts: 4 },
    breaker: { trip: { _tag: "rate", threshold: 0.5, minimumCalls: 5, size: 20 }, openDuration: "10 seconds" }
  })
  const guarded = Lookup.batched(Lookup.withPolicy(claims, policy), { maxBatchSize: 100, batchWindow: "1 millis" })
  const lookup = yield* Lookup.cached(guarded, {
    maxEntries: 100_000,
    ttl: "1 minute",
    notFoundTtl: "5 seconds"
  })
  const claim = yield* lookup.get("CLM-000042") // Option<Claim>; fails only with LookupError
  const chunk = yield* lookup.getMany(["CLM-000042", "CLM-000007", "CLM-999999"]) // Array<Option<Claim>>, in the order asked
  // #endregion
  console.log(`get CLM-000042: ${JSON.stringify(show(claim))}`)
  for (const [i, c] of chunk.entries()) console.log(`getMany[${i}] ${asked[i]}: ${JSON.stringify(show(c))}`)
  console.log(JSON.stringify({ get: show(claim), getMany: chunk.map(show) }))
}).pipe(Effect.scoped)

if (import.meta.main) Effect.runPromise(main)
