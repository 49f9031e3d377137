// The summary the suite prints at the end, one row per scenario.

/** One scenario's figures. */
export interface Row {
  readonly scenario: string
  readonly events: number
  readonly missing: number
  readonly duplicates: number
  readonly deadLetters: number
  readonly maxCommitLag: number
  readonly seconds: number
  readonly note: string
  /**
   * Seconds from a kill until the killed instance's partitions were owned by
   * a live member again, and until each had a new commit (scale-out scenarios).
   */
  readonly recovery?: { readonly reassignedSeconds: number; readonly committedSeconds: number }
}

/** The row of a scenario that failed before it could count anything. */
export const failedRow = (scenario: string, error: unknown): Row => ({
  scenario,
  events: Number.NaN,
  missing: Number.NaN,
  duplicates: Number.NaN,
  deadLetters: Number.NaN,
  maxCommitLag: Number.NaN,
  seconds: Number.NaN,
  note: `FAILED: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`
})

const figure = (n: number) => (Number.isNaN(n) ? "-" : String(n))

const columns: ReadonlyArray<readonly [string, (r: Row) => string]> = [
  ["scenario", (r) => r.scenario],
  ["events", (r) => figure(r.events)],
  ["missing", (r) => figure(r.missing)],
  ["duplicates", (r) => figure(r.duplicates)],
  ["dead letters", (r) => figure(r.deadLetters)],
  ["max commit lag", (r) => figure(r.maxCommitLag)],
  [
    "recovery",
    (r) =>
      r.recovery === undefined
        ? "-"
        : `${r.recovery.reassignedSeconds.toFixed(1)}s / ${r.recovery.committedSeconds.toFixed(1)}s`
  ],
  ["time", (r) => (Number.isNaN(r.seconds) ? "-" : `${r.seconds.toFixed(0)}s`)],
  ["notes", (r) => r.note]
]

/** The rows as an aligned text table with its legend. */
export const render = (rows: ReadonlyArray<Row>): string => {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => f(r)))]
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)))
  const line = (c: ReadonlyArray<string>) => c.map((v, i) => v.padEnd(widths[i]!)).join(" | ")
  return [
    line(cells[0]!),
    widths.map((w) => "-".repeat(w)).join("-|-"),
    ...cells.slice(1).map(line),
    "",
    "events: input records (well-formed and malformed); missing: inputs with no output in enriched-payments,",
    "failed-payments or payment-events-dlq; duplicates: extra copies of an output (same topic, same record apart",
    "from enrichment_timestamp), written again after a replay; dead letters: inputs in payment-events-dlq;",
    "max commit lag: the largest sum over input partitions of (end offset - committed offset) of the enrich",
    "group, sampled every 250 ms during the run; recovery: from the SIGKILL of one instance until its",
    "partitions are owned by a live member again / until each of them has a new commit of the enrich group.",
    "The commerce row counts differently: events are records of the orders topic; missing: customers without a",
    "row plus contributions lost between the job's stages; duplicates: contributions re-keyed twice (orders",
    "replayed); dead letters: malformed orders in commerce-dlq; max commit lag: of the re-keying topic's group."
  ].join("\n")
}
