import { assert, describe, it } from "@effect/vitest"
import { DateTime, Result, Schema } from "effect"
import * as RouteFormat from "../src/jobs/cdc/RouteFormat.ts"

const row = {
  id: "evt-1",
  event_name: "LoanCreated",
  event_type: "LoanCreated",
  entity_type: "Loan",
  entity_id: "loan-1",
  created_at: "2026-12-05T14:30:34.123456Z",
  updated_attributes: { loan: { loanAmount: 50000, tags: ["a", "b"], closedAt: null } }
}

const decodeRaw = Schema.decodeUnknownResult(RouteFormat.RawEvent)

describe("RouteFormat.businessEvent", () => {
  it("maps the row of a create to a RawEvent, times as Debezium writes them, attributes flattened", () => {
    const event = RouteFormat.businessEvent({
      op: "c",
      before: null,
      after: { ...row, updated_at: 1_767_225_600_000_123 }
    })
    const decoded = decodeRaw(event)
    assert.isTrue(Result.isSuccess(decoded))
    const value = Result.getOrThrow(decoded)
    assert.strictEqual(value.id, "evt-1")
    assert.strictEqual(value.entityId, "loan-1")
    // ZonedTimestamp text, to the millisecond
    assert.strictEqual(DateTime.toEpochMillis(value.createdAt!), Date.UTC(2026, 11, 5, 14, 30, 34, 123))
    // MicroTimestamp, epoch microseconds
    assert.strictEqual(DateTime.toEpochMillis(value.updatedAt!), 1_767_225_600_000)
    assert.deepStrictEqual(
      { ...value.updatedAttributes },
      { "loan.loanAmount": "50000", "loan.tags.0": "a", "loan.tags.1": "b" }
    )
  })

  it("takes `before` for a delete, and a flat rule's map as it is", () => {
    const flat: Record<string, string> = { "loan.loanAmount": "50000" }
    const event = RouteFormat.businessEvent({ op: "d", before: { ...row, updated_attributes: flat }, after: null })
    const value = Result.getOrThrow(decodeRaw(event))
    assert.strictEqual(value.id, "evt-1")
    assert.deepStrictEqual({ ...value.updatedAttributes }, flat)
  })

  it("leaves out the columns a row lacks, so the schema names them as missing", () => {
    const { event_name: _name, entity_id: _id, ...entityRow } = row
    const decoded = Schema.decodeUnknownResult(RouteFormat.RawEvent)(
      RouteFormat.businessEvent({ op: "c", after: entityRow }),
      { errors: "all" }
    )
    assert.isTrue(Result.isFailure(decoded))
    const message = Result.isFailure(decoded) ? decoded.failure.message : ""
    assert.include(message, "eventName")
    assert.include(message, "entityId")
    assert.include(message, "Missing key")
  })

  it("leaves a time it cannot read for the schema to refuse", () => {
    const decoded = decodeRaw(RouteFormat.businessEvent({ op: "c", after: { ...row, created_at: "yesterday" } }))
    assert.isTrue(Result.isFailure(decoded))
  })
})
