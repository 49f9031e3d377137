import { Rejected, SinkError, Unavailable } from "../SinkError.ts"

// Throttling and server-side failures pass; so does a network that comes back.
const retryableNames = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException"
])
const networkCodes = /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)/

const field = (error: object, name: string): unknown =>
  name in error ? (error as Record<string, unknown>)[name] : undefined

export const classifyAws = (sink: string, error: unknown): SinkError => {
  if (typeof error !== "object" || error === null) {
    return new SinkError({ sink, reason: new Unavailable({ retryable: false, detail: String(error) }), cause: error })
  }
  const name = String(field(error, "name") ?? "Error")
  const message = String(field(error, "message") ?? "")
  const code = field(error, "code")
  const metadata = field(error, "$metadata")
  const status =
    typeof metadata === "object" && metadata !== null && typeof field(metadata, "httpStatusCode") === "number"
      ? (field(metadata, "httpStatusCode") as number)
      : undefined
  const detail = `${name}: ${message}`
  const retryable =
    retryableNames.has(name) ||
    field(error, "$retryable") !== undefined ||
    field(error, "$fault") === "server" ||
    (typeof code === "string" && networkCodes.test(code))
  if (retryable) {
    return new SinkError({
      sink,
      reason: new Unavailable({ retryable: true, detail, ...(status === undefined ? {} : { status }) }),
      cause: error
    })
  }
  if (field(error, "$fault") === "client") {
    return new SinkError({
      sink,
      reason: new Rejected({ detail, ...(status === undefined ? {} : { status }) }),
      cause: error
    })
  }
  return new SinkError({ sink, reason: new Unavailable({ retryable: false, detail }), cause: error })
}
