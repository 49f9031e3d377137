/**
 * Change capture from PostgreSQL logical replication with the built-in
 * `pgoutput` plugin, producing Debezium's JSON envelope so consumers written
 * for Debezium read it unchanged.
 *
 * On first start `make` creates the publication (for `tables`) and a
 * permanent replication slot, reads every table in the slot's exported
 * snapshot as `op: "r"` records, then streams the slot: inserts (`c`),
 * updates (`u`), deletes (`d`, followed by a tombstone) and truncates (`t`),
 * each keyed by the table's primary key on topic `<serverName>.<schema>.<table>`.
 * When the slot already exists it resumes from the slot's confirmed position
 * without a snapshot, unless the snapshot that began with the slot was never
 * completely acknowledged (the capture died during it): then the tables are
 * read again, in a new transaction, before streaming from the slot. The
 * streamed changes since the slot's creation follow, so every row ends in its
 * latest state and no delete is missed; the rows already delivered come again
 * (at least once). Whether a snapshot is pending is a row in a small table
 * (`snapshotTable`), written before the slot is created and deleted once the
 * snapshot's last record is acknowledged: a replication slot has no room for
 * it.
 *
 * Nothing is acknowledged by itself. Each record carries a position (`lsn`);
 * `acknowledge(lsn)` says every record up to that one is durable (written to
 * Kafka, say), and only then does the slot's confirmed position move past
 * it. Only the last record of a transaction moves it past the transaction,
 * so acknowledging record by record never loses the rest of a transaction. After a crash or restart the server sends again every
 * transaction not acknowledged: no loss, duplicates bounded by what was in
 * flight. When everything sent has been acknowledged and the server reports
 * progress on quiet tables (keepalives), the slot follows, so it does not
 * hold WAL for tables nobody writes.
 *
 * Client choice: postgres.js (already a dependency) is used at the protocol
 * level, a `replication=database` connection with `START_REPLICATION`, not
 * its `subscribe` function: it makes a temporary slot (gone on
 * disconnect, so nothing to resume) and confirms the server's position on
 * every keepalive before the application has processed anything, and it
 * ignores truncates and parses values into lossy JS types. The
 * `pg-logical-replication` package does expose acknowledgement, but it
 * brings a second PostgreSQL client and parses values with `pg-types`
 * (timestamps to millisecond `Date`s); here every value stays the text
 * PostgreSQL printed until it is converted to Debezium's exact form.
 *
 * Stopping (interrupting the stream) ends replication as the protocol asks,
 * without waiting for the consumer: the acknowledgements sent so far reach
 * the server before it stops, and the changes still arriving are dropped;
 * they were not acknowledged, so the slot sends them again next time.
 *
 * A primary-key change becomes, as in Debezium, a delete of the old key (and
 * its tombstone) followed by a create of the new one.
 *
 * Limits: `before` is what the replica identity gives (`FULL` for whole
 * rows, the key columns for deletes otherwise).
 *
 * @since 0.1.0
 */
import type { Duplex } from "node:stream"
import { type Cause, Clock, type Duration, Effect, Metric, Queue, Redacted, Schedule, type Scope, Stream } from "effect"
import postgres from "postgres"
import * as CdcError from "./CdcError.ts"
import type * as ConnectSchema from "./ConnectSchema.ts"
import * as Acknowledger from "./internal/acknowledger.ts"
import * as Pgoutput from "./internal/pgoutput.ts"
import * as PgText from "./internal/pgtext.ts"
import * as Json from "./Json.ts"
import * as Lsn from "./Lsn.ts"

/**
 * What to capture and how to write it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  /** A connection URL of a user with the REPLICATION attribute. */
  readonly url: string | Redacted.Redacted<string>
  /** Debezium's `topic.prefix`: the topic prefix and `source.name`. */
  readonly serverName: string
  readonly slot: string
  readonly publication: string
  /** `schema.table` (or `table` in `public`). */
  readonly tables: ReadonlyArray<string>
  /** Debezium's `decimal.handling.mode`; default `precise`. */
  readonly decimalHandling?: PgText.DecimalMode
  /** Write `{ schema, payload }` values and keys; default `false`. */
  readonly schemas?: boolean
  /** Write a tombstone after each delete; default `true`. */
  readonly tombstones?: boolean
  /** How often to report the acknowledged position to the server; default 10 s. */
  readonly statusInterval?: Duration.Input
  /** Records buffered ahead of the consumer; default 1024. */
  readonly bufferSize?: number
  /**
   * `schema.table` where a slot whose snapshot is not yet acknowledged is
   * noted (created if missing); default `public.sluice_cdc_snapshot_pending`.
   */
  readonly snapshotTable?: string
}

/**
 * The default `Config.snapshotTable`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultSnapshotTable = "public.sluice_cdc_snapshot_pending"

/**
 * One Kafka-ready record: Debezium JSON key and value (a `null` value is a
 * tombstone), and the position to acknowledge once it is durable.
 *
 * @since 0.1.0
 * @category models
 */
export interface Captured {
  readonly topic: string
  readonly key: string | null
  readonly value: string | null
  /**
   * The position to acknowledge once this record (and every one before it)
   * is durable. The last record of a transaction carries the transaction's
   * commit LSN; the others carry the position just before it, so
   * acknowledging them never confirms a transaction only partly delivered.
   * Snapshot records, likewise: the last carries the position just before
   * the slot's start, the others the one before that, so only acknowledging
   * the last completes the snapshot.
   */
  readonly lsn: Lsn.Lsn
}

/**
 * A running capture.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capture {
  /**
   * The records. Each run starts from the slot (with the snapshot only when
   * it creates the slot or the slot's snapshot was never completely
   * acknowledged), so `Stream.retry` after a lost connection resumes where
   * the last acknowledgement left off.
   */
  readonly records: Stream.Stream<Captured, CdcError.CdcError>
  /** Every record with `lsn` at most this one is durable. */
  readonly acknowledge: (lsn: Lsn.Lsn) => Effect.Effect<void>
  /** The highest position acknowledged so far. */
  readonly acknowledged: Effect.Effect<Lsn.Lsn>
  /**
   * Bytes of WAL the slot holds: the server's current position minus the
   * slot's confirmed one. Also reported as the gauge `slotLag` every
   * `statusInterval` while the stream runs.
   */
  readonly slotLag: Effect.Effect<bigint, CdcError.CdcError>
}

/**
 * `sluice_cdc_slot_lag_bytes{slot}`: WAL bytes a capture's replication slot
 * holds past its confirmed position.
 *
 * @since 0.1.0
 * @category metrics
 */
export const slotLag: Metric.Gauge<number> = Metric.gauge("sluice_cdc_slot_lag_bytes", {
  description: "WAL bytes a replication slot holds past its confirmed position"
})

/**
 * The `slotLag` gauge of one slot.
 *
 * @since 0.1.0
 * @category metrics
 */
export const slotLagOf = (slot: string): Metric.Gauge<number> => Metric.withAttributes(slotLag, { slot })

const unavailable = (detail: string, cause: unknown, retryable = true) =>
  CdcError.make(new CdcError.Unavailable({ detail, retryable, cause }))

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`

const splitTable = (name: string): readonly [string, string] => {
  const dot = name.indexOf(".")
  return dot === -1 ? ["public", name] : [name.slice(0, dot), name.slice(dot + 1)]
}

// Written as a JSON number either way; a bigint keeps the digits past 2^53.
const exactNumber = (n: bigint): number | bigint => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n)

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

interface Table {
  readonly schema: string
  readonly table: string
  readonly columns: ReadonlyArray<{
    readonly name: string
    readonly key: boolean
    readonly converter: PgText.Converter
  }>
}

const sourceFields: ReadonlyArray<ConnectSchema.ConnectField> = [
  { field: "version", type: "string", optional: false },
  { field: "connector", type: "string", optional: false },
  { field: "name", type: "string", optional: false },
  { field: "ts_ms", type: "int64", optional: false },
  { field: "snapshot", type: "string", optional: true },
  { field: "db", type: "string", optional: false },
  { field: "sequence", type: "string", optional: true },
  { field: "schema", type: "string", optional: false },
  { field: "table", type: "string", optional: false },
  { field: "txId", type: "int64", optional: true },
  { field: "lsn", type: "int64", optional: true },
  { field: "xmin", type: "int64", optional: true }
]

/**
 * Starts a capture: creates what is missing (publication, slot) and returns
 * the record stream and the acknowledgement handle. The connections live in
 * the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Config): Effect.Effect<Capture, CdcError.CdcError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = typeof config.url === "string" ? config.url : Redacted.value(config.url)
    const decimals = config.decimalHandling ?? "precise"
    const tombstones = config.tombstones ?? true
    const schemas = config.schemas ?? false
    const connectionParameters = { TimeZone: "UTC", DateStyle: "ISO", extra_float_digits: "1" }
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(url, { max: 2, onnotice: () => {}, connection: connectionParameters })),
      (s) => Effect.promise(() => s.end({ timeout: 2 }))
    )
    const query = <T>(text: string, params: ReadonlyArray<postgres.ParameterOrJSON<never>> = []) =>
      Effect.tryPromise({
        try: () => sql.unsafe(text, params as Array<postgres.ParameterOrJSON<never>>) as unknown as Promise<Array<T>>,
        catch: (cause) => unavailable(`${message(cause)} (${text.slice(0, 60)})`, cause)
      })

    const [{ db }] = (yield* query<{ db: string }>("SELECT current_database() AS db")) as [{ db: string }]
    const published = yield* query("SELECT 1 FROM pg_publication WHERE pubname = $1", [config.publication])
    if (published.length === 0) {
      const list = config.tables.map((t) => splitTable(t).map(quote).join(".")).join(", ")
      yield* query(`CREATE PUBLICATION ${quote(config.publication)} FOR TABLE ${list}`)
    }
    const pendingTable = splitTable(config.snapshotTable ?? defaultSnapshotTable)
      .map(quote)
      .join(".")
    yield* query(`CREATE TABLE IF NOT EXISTS ${pendingTable} (slot text PRIMARY KEY)`).pipe(
      // Trying again does not grant a privilege.
      Effect.mapError((e) =>
        unavailable(
          `cannot create the pending-snapshot table ${pendingTable} (Config.snapshotTable): ${e.message}`,
          e,
          false
        )
      )
    )

    const primaryKey = (schema: string, table: string) =>
      Effect.map(
        query<{ name: string }>(
          `SELECT a.attname AS name FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = $1::regclass AND i.indisprimary`,
          [`${quote(schema)}.${quote(table)}`]
        ),
        (rows) => new Set(rows.map((r) => r.name))
      )

    const progress = Acknowledger.make()

    // The position of the last record of a snapshot not yet acknowledged;
    // acknowledging it deletes the slot's pending-snapshot row.
    let snapshotEnd: Lsn.Lsn | undefined
    const completeSnapshot = query(`DELETE FROM ${pendingTable} WHERE slot = $1`, [config.slot]).pipe(
      Effect.andThen(
        Effect.sync(() => {
          snapshotEnd = undefined
        })
      )
    )
    const acknowledge = (lsn: Lsn.Lsn) =>
      Effect.andThen(
        progress.acknowledge(lsn),
        Effect.suspend(() =>
          snapshotEnd === undefined || lsn < snapshotEnd
            ? Effect.void
            : // Tried again on the next acknowledgement if the server is away.
              completeSnapshot.pipe(
                Effect.catch((e) => Effect.logWarning(`the slot's snapshot stays pending for now: ${e.message}`))
              )
        )
      )

    const lag = Effect.map(
      query<{ lag: string | null }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
           FROM pg_replication_slots WHERE slot_name = $1`,
        [config.slot]
      ),
      (rows) => (rows[0]?.lag == null ? 0n : BigInt(rows[0].lag.split(".")[0]!))
    )
    const lagGauge = slotLagOf(config.slot)

    const keyJson = (t: Table, row: ReadonlyArray<unknown>) => {
      const payload: { [k: string]: unknown } = {}
      const fields: Array<ConnectSchema.ConnectField> = []
      t.columns.forEach((c, i) => {
        if (!c.key) return
        payload[c.name] = row[i]
        fields.push({ ...c.converter.type, optional: false, field: c.name })
      })
      if (fields.length === 0) return null
      return (
        Json.stringify(
          schemas
            ? { schema: { type: "struct", optional: false, name: `${topicOf(t)}.Key`, fields }, payload }
            : payload
        ) ?? null
      )
    }

    const topicOf = (t: Table) => `${config.serverName}.${t.schema}.${t.table}`

    const rowOf = (t: Table, cells: ReadonlyArray<Pgoutput.Cell>) =>
      cells.map((cell, i) =>
        cell === null ? null : typeof cell === "string" ? t.columns[i]!.converter.convert(cell) : PgText.unavailable
      )

    const objectOf = (t: Table, row: ReadonlyArray<unknown> | null) => {
      if (row === null) return null
      const o: { [k: string]: unknown } = {}
      t.columns.forEach((c, i) => {
        o[c.name] = row[i] ?? null
      })
      return o
    }

    const envelopeSchema = (t: Table) => {
      const value = {
        type: "struct",
        optional: true,
        name: `${topicOf(t)}.Value`,
        fields: t.columns.map((c) => ({ ...c.converter.type, optional: !c.key, field: c.name }))
      }
      return {
        type: "struct",
        optional: false,
        name: `${topicOf(t)}.Envelope`,
        version: 2,
        fields: [
          { ...value, field: "before" },
          { ...value, field: "after" },
          {
            type: "struct",
            optional: false,
            name: "io.debezium.connector.postgresql.Source",
            fields: sourceFields,
            field: "source"
          },
          { type: "string", optional: false, field: "op" },
          { type: "int64", optional: true, field: "ts_ms" }
        ]
      }
    }

    const record = (
      t: Table,
      op: "r" | "c" | "u" | "d" | "t",
      before: ReadonlyArray<unknown> | null,
      after: ReadonlyArray<unknown> | null,
      at: {
        readonly tsMs: number
        readonly xid: number | null
        readonly lsn: bigint
        readonly changeLsn: bigint | null
      },
      keyRow: ReadonlyArray<unknown> | null
    ) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const payload = {
          before: objectOf(t, before),
          after: objectOf(t, after),
          source: {
            version: "sluice",
            connector: "postgresql",
            name: config.serverName,
            ts_ms: at.tsMs,
            snapshot: op === "r" ? "true" : "false",
            db,
            sequence: null,
            schema: t.schema,
            table: t.table,
            txId: at.xid,
            lsn: at.changeLsn === null ? null : exactNumber(at.changeLsn),
            xmin: null
          },
          op,
          ts_ms: now
        }
        const value = Json.stringify(schemas ? { schema: envelopeSchema(t), payload } : payload) ?? null
        const key = keyRow === null ? null : keyJson(t, keyRow)
        const out: Array<Captured> = [{ topic: topicOf(t), key, value, lsn: at.lsn }]
        if (op === "d" && tombstones && key !== null) out.push({ topic: topicOf(t), key, value: null, lsn: at.lsn })
        return out
      })

    const records = Stream.callback<Captured, CdcError.CdcError>(
      (queue) =>
        Effect.gen(function* () {
          const repl = yield* Effect.acquireRelease(
            Effect.sync(() =>
              postgres(url, {
                max: 1,
                fetch_types: false,
                // A replication connection lives as long as the capture.
                idle_timeout: 0,
                max_lifetime: 0,
                onnotice: () => {},
                connection: { ...connectionParameters, replication: "database" }
              })
            ),
            (r) => Effect.promise(() => r.end({ timeout: 1 }))
          )
          const replQuery = <T>(text: string) =>
            Effect.tryPromise({
              try: () => repl.unsafe(text) as unknown as Promise<Array<T>>,
              catch: (cause) => unavailable(`${message(cause)} (${text.slice(0, 40)})`, cause)
            })

          // Checked on every run of the stream, so a retried stream resumes from the slot.
          const existing = yield* query<{ lsn: string | null }>(
            "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1",
            [config.slot]
          )
          let start = "0/0"
          let floor = -1n
          if (existing.length === 0) {
            // Noted before the slot exists: a crash from here on finds it pending.
            yield* query(`INSERT INTO ${pendingTable} (slot) VALUES ($1) ON CONFLICT DO NOTHING`, [config.slot])
            const [created] = (yield* replQuery<{ consistent_point: string; snapshot_name: string }>(
              `CREATE_REPLICATION_SLOT ${quote(config.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`
            )) as [{ consistent_point: string; snapshot_name: string }]
            start = created.consistent_point
            floor = Lsn.parse(created.consistent_point)
            yield* snapshot(created.snapshot_name, floor, queue)
          } else {
            floor = existing[0]?.lsn == null ? -1n : Lsn.parse(existing[0].lsn)
            const pending = yield* query(`SELECT 1 FROM ${pendingTable} WHERE slot = $1`, [config.slot])
            // The slot's own snapshot is gone with the connection that exported
            // it: a new one, and the stream from the slot replays every change
            // since, so the rows end in their latest state.
            if (pending.length > 0 && floor > 0n) yield* snapshot(undefined, floor, queue)
          }

          // The slot can still be held for a moment by a connection that is closing.
          const stream = yield* Effect.tryPromise({
            try: () =>
              repl
                .unsafe(
                  `START_REPLICATION SLOT ${quote(config.slot)} LOGICAL ${start} (proto_version '1', publication_names '${config.publication.replaceAll("'", "''")}')`
                )
                .writable() as unknown as Promise<Duplex>,
            catch: (cause) => unavailable(message(cause), cause)
          }).pipe(
            Effect.retry({
              schedule: Schedule.spaced("100 millis"),
              times: 50,
              while: (e) => e.reason._tag === "Unavailable" && e.message.includes("is active")
            })
          )
          let closing = false
          yield* progress.attach((message) => stream.write(message), floor)
          yield* Effect.addFinalizer(() =>
            Effect.callback<void>((resume) => {
              closing = true
              if (stream.closed) return resume(Effect.void)
              stream.once("close", () => resume(Effect.void))
              // The server answers our CopyDone after the changes it is still
              // sending: they are read and dropped (see the "data" handler), or
              // a paused stream would never reach the answer and the close
              // would end in the timeout. The acknowledgements sent so far
              // precede the CopyDone on the connection, so the server applies
              // them before it stops.
              stream.resume()
              stream.end()
            }).pipe(
              // Only for a server that never answers.
              Effect.timeout("2 seconds"),
              Effect.ignore,
              Effect.andThen(progress.detach)
            )
          )

          const tables = new Map<number, Table>()
          let tx = { xid: 0, finalLsn: 0n, tsMs: 0 }
          // The records of the latest change, held until we know whether it ends its transaction.
          let held: Array<Captured> = []
          const services = yield* Effect.context<never>()
          const run = Effect.runPromiseWith(services)

          const handle = (chunk: Buffer) =>
            Effect.gen(function* () {
              if (chunk[0] === 0x6b /* k: keepalive */) {
                return yield* progress.keepalive(chunk.readBigUInt64BE(1), chunk[17] === 1)
              }
              if (chunk[0] !== 0x77 /* w: XLogData */) return
              const changeLsn = chunk.readBigUInt64BE(1)
              const m = Pgoutput.decode(chunk.subarray(25))
              // Until its transaction commits, a record says "acknowledge up to
              // just before this commit": only the last record of a transaction
              // carries the commit's position (see `Captured.lsn`).
              const at = { tsMs: tx.tsMs, xid: tx.xid, lsn: tx.finalLsn - 1n, changeLsn }
              let out: Array<Captured> = []
              switch (m._tag) {
                case "Begin":
                  progress.inTransaction(true)
                  tx = {
                    xid: m.xid,
                    finalLsn: m.finalLsn,
                    tsMs: Number((m.commitMicros + Pgoutput.pgEpochMicros) / 1000n)
                  }
                  return
                case "Commit": {
                  progress.inTransaction(false)
                  const last = held.map((r) => ({ ...r, lsn: tx.finalLsn }))
                  held = []
                  if (last.length > 0) {
                    progress.emitted(tx.finalLsn)
                    yield* Queue.offerAll(queue, last)
                  }
                  return
                }
                case "Relation": {
                  // pgoutput flags the replica identity's columns (all of them
                  // under FULL); the record key is the primary key.
                  const pk = yield* primaryKey(m.relation.schema, m.relation.table)
                  tables.set(m.relation.id, {
                    schema: m.relation.schema,
                    table: m.relation.table,
                    columns: m.relation.columns.map((c) => ({
                      name: c.name,
                      key: pk.size > 0 ? pk.has(c.name) : c.key,
                      converter: PgText.converter(c.typeOid, c.typeMod, decimals)
                    }))
                  })
                  return
                }
                case "Insert": {
                  const t = tables.get(m.relationId)!
                  const after = rowOf(t, m.after)
                  out = yield* record(t, "c", null, after, at, after)
                  break
                }
                case "Update": {
                  const t = tables.get(m.relationId)!
                  const after = rowOf(t, m.after)
                  const before = m.before === null ? null : rowOf(t, m.before)
                  if (before !== null && keyJson(t, before) !== keyJson(t, after)) {
                    // A new primary key: as Debezium, a delete of the old key
                    // (and its tombstone), then a create of the new one.
                    out = yield* record(t, "d", before, null, at, before)
                    out.push(...(yield* record(t, "c", null, after, at, after)))
                  } else {
                    out = yield* record(t, "u", before, after, at, after)
                  }
                  break
                }
                case "Delete": {
                  const t = tables.get(m.relationId)!
                  const before = rowOf(t, m.before)
                  out = yield* record(t, "d", before, null, at, before)
                  break
                }
                case "Truncate":
                  for (const id of m.relationIds) {
                    const t = tables.get(id)
                    if (t !== undefined) out.push(...(yield* record(t, "t", null, null, at, null)))
                  }
                  break
                case "Other":
                  return
              }
              if (out.length > 0) {
                // The previous change is not the last of its transaction: it goes out as is.
                const previous = held
                held = out
                if (previous.length > 0) {
                  progress.emitted(tx.finalLsn - 1n)
                  yield* Queue.offerAll(queue, previous)
                }
              }
            })

          stream.on("data", (chunk: Buffer) => {
            // Stopping: nobody takes records any more, and nothing dropped
            // here was acknowledged, so the slot sends it again next time.
            if (closing) return
            stream.pause()
            run(handle(chunk)).then(
              () => stream.resume(),
              (cause) => run(Queue.fail(queue, unavailable(message(cause), cause, false)))
            )
          })
          stream.on("error", (cause: unknown) => {
            run(Queue.fail(queue, unavailable(`replication stream failed: ${message(cause)}`, cause)))
          })
          stream.on("close", () => {
            if (!closing) run(Queue.fail(queue, unavailable("replication stream closed by the server", null)))
          })

          yield* lag.pipe(
            Effect.flatMap((bytes) => Metric.update(lagGauge, Number(bytes))),
            Effect.ignore,
            Effect.repeat(Schedule.spaced(config.statusInterval ?? "10 seconds")),
            Effect.forkScoped
          )
          // Tell the server where we are even when nothing happens.
          yield* progress.tick.pipe(
            Effect.repeat(Schedule.spaced(config.statusInterval ?? "10 seconds")),
            Effect.forkScoped
          )
        }),
      { bufferSize: config.bufferSize ?? 1024, strategy: "suspend" }
    )

    // Reads every published table in the slot's exported snapshot (`name`), or
    // in a new one when that is gone. `at` is where the stream starts: the
    // last record carries `at - 1`, the others `at - 2` (see `Captured.lsn`).
    const snapshot = (
      name: string | undefined,
      at: Lsn.Lsn,
      queue: Queue.Queue<Captured, CdcError.CdcError | Cause.Done>
    ) =>
      Effect.gen(function* () {
        const reserved = yield* Effect.acquireRelease(
          Effect.tryPromise({ try: () => sql.reserve(), catch: (cause) => unavailable(message(cause), cause) }),
          (r) => Effect.sync(() => r.release())
        )
        const run = <T>(text: string, params: Array<postgres.ParameterOrJSON<never>> = []) =>
          Effect.tryPromise({
            try: () => reserved.unsafe(text, params) as unknown as Promise<Array<T>>,
            catch: (cause) => unavailable(message(cause), cause)
          })
        yield* run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if (name !== undefined) yield* run(`SET TRANSACTION SNAPSHOT '${name.replaceAll("'", "''")}'`)
        const tsMs = yield* Clock.currentTimeMillis
        const lsn = at - 2n
        // Each row's records, held until the next row shows they are not the last.
        let held: Array<Captured> = []
        for (const qualified of config.tables) {
          const [schema, table] = splitTable(qualified)
          const columns = yield* run<{ name: string; oid: number; typmod: number; key: boolean }>(
            `SELECT a.attname AS name, a.atttypid::int AS oid, a.atttypmod AS typmod,
                    coalesce(a.attnum = ANY(i.indkey), false) AS key
               FROM pg_attribute a
               LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
              WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum`,
            [`${quote(schema)}.${quote(table)}`]
          )
          const t: Table = {
            schema,
            table,
            columns: columns.map((c) => ({
              name: c.name,
              key: c.key,
              converter: PgText.converter(c.oid, c.typmod, decimals)
            }))
          }
          const select = `SELECT ${columns.map((c, i) => `${quote(c.name)}::text AS c${i}`).join(", ")} FROM ${quote(schema)}.${quote(table)}`
          const cursor = reserved.unsafe(select).cursor(500)[Symbol.asyncIterator]()
          while (true) {
            const next = yield* Effect.tryPromise({
              try: () => cursor.next(),
              catch: (cause) => unavailable(message(cause), cause)
            })
            if (next.done === true) break
            for (const row of next.value as unknown as Array<{ [k: string]: string | null }>) {
              const cells = columns.map((_, i) => row[`c${i}`] ?? null)
              const values = rowOf(t, cells)
              const out = yield* record(t, "r", null, values, { tsMs, xid: null, lsn, changeLsn: null }, values)
              const previous = held
              held = out
              if (previous.length > 0) {
                progress.emitted(lsn)
                yield* Queue.offerAll(queue, previous)
              }
            }
          }
        }
        yield* run("COMMIT")
        if (held.length === 0) return yield* completeSnapshot
        snapshotEnd = at - 1n
        progress.emitted(at - 1n)
        yield* Queue.offerAll(
          queue,
          held.map((r) => ({ ...r, lsn: at - 1n }))
        )
      }).pipe(Effect.scoped)

    return {
      records,
      acknowledge,
      acknowledged: progress.acknowledged,
      slotLag: lag
    } satisfies Capture
  })

/**
 * Drops a replication slot (when it is not in use), so a new capture starts
 * over with a snapshot.
 *
 * @since 0.1.0
 * @category constructors
 */
export const dropSlot = (
  url: string | Redacted.Redacted<string>,
  slot: string
): Effect.Effect<void, CdcError.CdcError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(typeof url === "string" ? url : Redacted.value(url), { max: 1, onnotice: () => {} })),
    (sql) =>
      Effect.tryPromise({
        try: () =>
          sql.unsafe("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [
            slot
          ]),
        catch: (cause) => unavailable(message(cause), cause)
      }),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  ).pipe(Effect.asVoid)
