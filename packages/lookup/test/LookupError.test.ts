import { assert, describe, it } from "@effect/vitest"
import { PolicyError } from "@sluice/core"
import * as LookupError from "../src/LookupError.ts"

const policyError = (reason: PolicyError.PolicyErrorReason) => new PolicyError.PolicyError({ reason })

describe("LookupError", () => {
  it("fromPolicyError - a policy timeout is Timeout with the policy's duration", () => {
    const error = LookupError.fromPolicyError(
      "claims",
      policyError(new PolicyError.Timeout({ operation: "claims", timeoutMillis: 250 }))
    )
    assert.isTrue(error.reason._tag === "Timeout" && error.reason.timeoutMillis === 250)
    assert.isTrue(error.isRetryable)
    assert.strictEqual(error.message, "lookup claims timed out after 250 ms")
  })

  it("fromPolicyError - an open circuit is CircuitOpen with its retry delay", () => {
    const error = LookupError.fromPolicyError(
      "claims",
      policyError(new PolicyError.CircuitOpen({ operation: "claims", retryAfterMillis: 900 }))
    )
    assert.isTrue(error.reason._tag === "CircuitOpen" && error.reason.retryAfterMillis === 900)
    assert.isTrue(error.isRetryable)
  })

  it("fromPolicyError - exhausted retries of a foreign error are Unavailable and keep retryable", () => {
    const error = LookupError.fromPolicyError(
      "claims",
      policyError(new PolicyError.Unavailable({ operation: "claims", attempts: 3, retryable: true, cause: "boom" }))
    )
    assert.isTrue(error.reason._tag === "Unavailable" && error.reason.retryable)
    assert.isTrue(error.isRetryable)
    assert.include(error.message, "3 attempt(s)")
  })

  it("fromPolicyError - a LookupError the policy gave up on is passed through unchanged", () => {
    const statementTimeout = new LookupError.LookupError({
      reason: new LookupError.Timeout({ lookup: "claims", cause: { code: "57014" } })
    })
    const error = LookupError.fromPolicyError(
      "claims",
      policyError(
        new PolicyError.Unavailable({ operation: "claims", attempts: 2, retryable: true, cause: statementTimeout })
      )
    )
    assert.strictEqual(error, statementTimeout)
  })

  it("isRetryable - follows Unavailable's own flag", () => {
    const make = (retryable: boolean) =>
      new LookupError.LookupError({
        reason: new LookupError.Unavailable({ lookup: "claims", retryable, detail: "x", cause: undefined })
      })
    assert.isTrue(make(true).isRetryable)
    assert.isFalse(make(false).isRetryable)
  })
})
