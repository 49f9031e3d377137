/**
 * The record work of the hand-written claims job (`handJob.ts`), in plain
 * TypeScript with no framework: what a careful engineer writes when the
 * outputs must be the ones `sluice claims enrich` writes. Same input rules
 * (size, strict UTF-8, JSON, fields, the amount rule of `Money`: exact,
 * non-negative, below 10^10, at most two decimal places, never rounded), same
 * outputs (field order, amounts as JSON numbers with exactly two decimals,
 * timestamps in UTC ISO text), and a record that breaks a rule becomes a dead
 * letter with the `x-sluice-*` headers. Only the reason text is worded
 * differently; the kind header is the same.
 *
 * Amounts are kept as their decimal text and checked on it, so no double is
 * ever involved: a JSON number's text comes from `JSON.parse`'s source-text
 * reviver, and `JSON.rawJSON` writes it back verbatim.
 */

/** A record as kafkajs hands it over, reduced to what the job reads. */
export interface InputRecord {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly timestamp: string
  readonly value: Buffer | null
  readonly headers: Readonly<Record<string, unknown>>
}

/** A decoded payment: the fields of the output, amounts as two-decimal text. */
export interface Payment {
  readonly payment_id: string
  readonly claim_id: string
  readonly payment_amount: string
  readonly payment_date: string
  readonly processor_id: string
  readonly payment_method?: string
  readonly payment_status?: string
}

/** A dead letter's kind (the `x-sluice-dlq-kind` header) and reason. */
export interface Rejected {
  readonly kind: "no-value" | "too-large" | "invalid-utf8" | "invalid-json" | "invalid-fields"
  readonly reason: string
}

/** A claim row as the job's query returns it; the amount is `DECIMAL(10,2)` as text. */
export interface ClaimRow {
  readonly claim_id: string
  readonly member_id: string
  readonly claim_amount: string
  readonly claim_status: string | null
}

/** The one query per batch: every distinct claim id of the batch in one `= ANY($1)`. */
export const claimsQuery = `SELECT claim_id, member_id, claim_amount::text AS claim_amount, claim_status,
         floor(extract(epoch FROM created_date) * 1000)::float8 AS created_date
    FROM claims WHERE claim_id = ANY($1::varchar[])`

const MAX_BYTES = 64 * 1024
const utf8 = new TextDecoder("utf-8", { fatal: true })

type Reviver = (this: unknown, key: string, value: unknown, context?: { readonly source?: string }) => unknown
const parseJson = JSON.parse as (text: string, reviver: Reviver) => unknown
const rawJson = (JSON as unknown as { readonly rawJSON: (text: string) => unknown }).rawJSON

// The amount's JSON number arrives as its source text, never as a double.
const keepAmountText: Reviver = (key, value, context) =>
  key === "payment_amount" && typeof value === "number" && context?.source !== undefined ? context.source : value

const decimalText = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/

/**
 * Checks an amount's decimal text against the rule and writes it with exactly
 * two decimals, or says why it is not an amount.
 */
export const amount = (text: string): { readonly text: string } | { readonly error: string } => {
  const m = decimalText.exec(text)
  if (m === null) return { error: "expected a decimal number" }
  const fraction = m[3] ?? ""
  let digits = (m[2]! + fraction).replace(/^0+/, "")
  let scale = fraction.length - Number(m[4] ?? 0)
  if (digits === "") return { text: "0.00" }
  while (digits.endsWith("0")) {
    digits = digits.slice(0, -1)
    scale--
  }
  if (m[1] === "-") return { error: "must not be negative" }
  if (scale > 2) return { error: "must have at most 2 decimal places" }
  if (digits.length - scale > 10) return { error: "must be below 10000000000" }
  const cents = (digits + "0".repeat(2 - scale)).padStart(3, "0")
  return { text: `${cents.slice(0, -2)}.${cents.slice(-2)}` }
}

// An ISO timestamp without a zone offset is read as UTC, as the job reads it.
const withoutZone = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/

const nonEmpty = (u: unknown): u is string => typeof u === "string" && u.length > 0

/** Decodes a record value into a payment, or the reason it goes to the dead letters. */
export const decode = (value: Buffer | null): Payment | Rejected => {
  if (value === null) return { kind: "no-value", reason: "the record has no value" }
  if (value.length > MAX_BYTES) return { kind: "too-large", reason: `the record value is ${value.length} bytes` }
  let text: string
  try {
    text = utf8.decode(value)
  } catch {
    return { kind: "invalid-utf8", reason: "the record value is not valid UTF-8" }
  }
  let json: unknown
  try {
    json = parseJson(text, keepAmountText)
  } catch (error) {
    return { kind: "invalid-json", reason: error instanceof Error ? error.message : String(error) }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { kind: "invalid-fields", reason: "expected an object" }
  }
  const o = json as Record<string, unknown>
  const bad = (reason: string): Rejected => ({ kind: "invalid-fields", reason })
  if (!nonEmpty(o.payment_id)) return bad("payment_id: expected a non-empty string")
  if (!nonEmpty(o.claim_id)) return bad("claim_id: expected a non-empty string")
  if (!nonEmpty(o.processor_id)) return bad("processor_id: expected a non-empty string")
  const rawAmount = o.payment_amount
  if (typeof rawAmount !== "string") return bad("payment_amount: expected a number or a string")
  const paid = amount(rawAmount)
  if ("error" in paid) return bad(`payment_amount: amount ${paid.error}`)
  if (typeof o.payment_date !== "string") return bad("payment_date: expected a string")
  const millis = Date.parse(withoutZone.test(o.payment_date) ? `${o.payment_date}Z` : o.payment_date)
  if (Number.isNaN(millis)) return bad("payment_date: expected an ISO date-time")
  if (o.payment_method !== undefined && typeof o.payment_method !== "string") {
    return bad("payment_method: expected a string")
  }
  if (o.payment_status !== undefined && typeof o.payment_status !== "string") {
    return bad("payment_status: expected a string")
  }
  return {
    payment_id: o.payment_id,
    claim_id: o.claim_id,
    payment_amount: paid.text,
    payment_date: new Date(millis).toISOString(),
    processor_id: o.processor_id,
    ...(o.payment_method === undefined ? {} : { payment_method: o.payment_method }),
    ...(o.payment_status === undefined ? {} : { payment_status: o.payment_status })
  }
}

/** Tells a decoded payment from a rejection. */
export const isRejected = (d: Payment | Rejected): d is Rejected => "kind" in d

/**
 * The output value of a payment and its claim (or none): which topic, and the
 * JSON, fields in the order the job writes them.
 */
export const enrich = (
  payment: Payment,
  claim: ClaimRow | undefined,
  now: string
): { readonly output: "enriched" | "failed"; readonly value: string } => {
  const out: Record<string, unknown> = {
    payment_id: payment.payment_id,
    claim_id: payment.claim_id,
    payment_amount: rawJson(payment.payment_amount),
    payment_date: payment.payment_date,
    processor_id: payment.processor_id
  }
  if (payment.payment_method !== undefined) out.payment_method = payment.payment_method
  if (payment.payment_status !== undefined) out.payment_status = payment.payment_status
  if (claim === undefined) {
    out.member_id = null
    out.claim_amount = null
    out.claim_status = null
    out.enrichment_status = "CLAIM_NOT_FOUND"
    out.enrichment_timestamp = now
    out.error_reason = `claim ${payment.claim_id} not found`
    return { output: "failed", value: JSON.stringify(out) }
  }
  out.member_id = claim.member_id
  out.claim_amount = rawJson(claim.claim_amount)
  out.claim_status = claim.claim_status
  out.enrichment_status = "SUCCESS"
  out.enrichment_timestamp = now
  out.error_reason = null
  return { output: "enriched", value: JSON.stringify(out) }
}

/** The headers of a dead letter: the record's own, then the `x-sluice-*` context. */
export const deadLetterHeaders = (record: InputRecord, rejected: Rejected): Record<string, unknown> => ({
  ...record.headers,
  "x-sluice-dlq-reason": rejected.reason,
  "x-sluice-dlq-kind": rejected.kind,
  "x-sluice-source-topic": record.topic,
  "x-sluice-source-partition": String(record.partition),
  "x-sluice-source-offset": record.offset,
  "x-sluice-source-timestamp": record.timestamp
})
