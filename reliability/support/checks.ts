// Reconciles the input topic with the output topics. A well-formed input
// (generator kind `valid` or `unknown-claim`) is identified by its
// payment_id and must appear in enriched-payments or failed-payments; any
// other input is identified by its partition and offset and must appear in
// the dead-letter topic, which names that origin in its headers. A replay
// after a crash may write an output again: that is a duplicate when it is the
// same output (same topic, same record apart from enrichment_timestamp), and a
// conflict otherwise. An input may itself be there twice (a producer that
// retried a send whose acknowledgement the broker restart lost writes it
// again, at a new offset): each copy is an input of its own, so it is owed
// an output of its own, and only outputs beyond the copies are duplicates.
import type { Stored } from "./topics.ts"

/** The topics of the claims enrich job (their default names). */
export const topics = {
  input: "payment-events",
  enriched: "enriched-payments",
  failed: "failed-payments",
  deadLetter: "payment-events-dlq"
} as const

/** The generator header naming what an input record is. */
export const kindHeader = "sluice-generator-kind"
const wellFormed = new Set(["valid", "unknown-claim"])

/** An enriched or failed payment as read back. */
export interface Outcome {
  readonly paymentId: string
  readonly topic: string
  readonly status: string
  readonly reason: string | null
  readonly enrichedAt: number
}

/** What the reconciliation found. */
export interface Reconciliation {
  readonly events: number
  /** Inputs with no output at all. */
  readonly missing: ReadonlyArray<string>
  /** Outputs beyond one per input copy that repeat the first exactly. */
  readonly duplicates: number
  /** Well-formed inputs written more than once (copies beyond the first, same payment_id). */
  readonly repeatedInputs: number
  /** Inputs with outputs that differ (topic or content). */
  readonly conflicts: ReadonlyArray<string>
  /** Inputs in the wrong place: well-formed ones dead-lettered, malformed ones enriched. */
  readonly misrouted: ReadonlyArray<string>
  /** Outputs that match no input. */
  readonly strays: number
  /** Distinct inputs in the dead-letter topic. */
  readonly deadLetters: number
  /** Dead letters without a reason header. */
  readonly withoutReason: number
  /** The first output of each well-formed input. */
  readonly outcomes: ReadonlyArray<Outcome>
}

const originOf = (partition: number | string, offset: number | string) => `offset ${partition}/${offset}`

export const reconcile = (inputs: ReadonlyArray<Stored>, outputs: ReadonlyArray<Stored>): Reconciliation => {
  // input identity → whether it must be dead-lettered
  const expected = new Map<string, boolean>()
  // input identity → how many times it is in the input
  const copies = new Map<string, number>()
  const byOrigin = new Map<string, string>()
  let repeatedInputs = 0
  for (const r of inputs) {
    const kind = r.headers[kindHeader] ?? "unlabelled"
    let id = originOf(r.partition, r.offset)
    if (wellFormed.has(kind)) id = (JSON.parse(r.value.toString("utf8")) as { payment_id: string }).payment_id
    if (expected.has(id)) repeatedInputs++
    copies.set(id, (copies.get(id) ?? 0) + 1)
    expected.set(id, !wellFormed.has(kind))
    byOrigin.set(originOf(r.partition, r.offset), id)
  }

  const seen = new Map<string, { readonly topic: string; readonly content: string; count: number; same: boolean }>()
  const outcomes: Array<Outcome> = []
  let strays = 0
  let withoutReason = 0
  for (const o of outputs) {
    let id: string | undefined
    let content: string
    if (o.topic === topics.deadLetter) {
      id = byOrigin.get(
        originOf(o.headers["x-sluice-source-partition"] ?? "?", o.headers["x-sluice-source-offset"] ?? "?")
      )
      if (o.headers["x-sluice-dlq-reason"] === undefined || o.headers["x-sluice-dlq-reason"] === "") withoutReason++
      content = o.value.toString("base64")
    } else {
      const record = JSON.parse(o.value.toString("utf8")) as Record<string, unknown>
      id = String(record.payment_id)
      const { enrichment_timestamp, ...rest } = record
      content = JSON.stringify(rest)
      if (expected.has(id) && !seen.has(id)) {
        outcomes.push({
          paymentId: id,
          topic: o.topic,
          status: String(record.enrichment_status),
          reason: typeof record.error_reason === "string" ? record.error_reason : null,
          enrichedAt: Date.parse(String(enrichment_timestamp))
        })
      }
    }
    if (id === undefined || !expected.has(id)) {
      strays++
      continue
    }
    const first = seen.get(id)
    if (first === undefined) seen.set(id, { topic: o.topic, content, count: 1, same: true })
    else {
      first.count++
      if (first.topic !== o.topic || first.content !== content) first.same = false
    }
  }

  const missing: Array<string> = []
  const conflicts: Array<string> = []
  const misrouted: Array<string> = []
  let duplicates = 0
  let deadLetters = 0
  for (const [id, mustDeadLetter] of expected) {
    const s = seen.get(id)
    if (s === undefined) {
      missing.push(id)
      continue
    }
    if (s.same) duplicates += Math.max(0, s.count - (copies.get(id) ?? 1))
    else conflicts.push(id)
    const deadLettered = s.topic === topics.deadLetter
    if (deadLettered) deadLetters++
    if (deadLettered !== mustDeadLetter) misrouted.push(id)
  }
  return {
    events: expected.size,
    missing,
    duplicates,
    repeatedInputs,
    conflicts,
    misrouted,
    strays,
    deadLetters,
    withoutReason,
    outcomes
  }
}
