import { LookupError, Timeout, Unavailable } from "../LookupError.ts"

// Network-level failures and the client's own connection codes: the server may come back.
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_ENDED",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT"
])

// SQLSTATEs that describe a server that is going away, starting, or overloaded.
const transientSqlStates = new Set(["57P01", "57P02", "57P03", "53300", "53400", "40001", "40P01"])

const STATEMENT_TIMEOUT = "57014"

const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  if ("code" in error && typeof error.code === "string") return error.code
  // Connecting to a host name with several addresses reports an AggregateError.
  if ("errors" in error && Array.isArray(error.errors)) {
    for (const inner of error.errors) {
      const code = codeOf(inner)
      if (code !== undefined) return code
    }
  }
  return undefined
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const classify = (lookup: string, error: unknown): LookupError => {
  const code = codeOf(error)
  if (code === STATEMENT_TIMEOUT) {
    return new LookupError({ reason: new Timeout({ lookup, cause: error }) })
  }
  const retryable =
    code !== undefined && (connectionCodes.has(code) || transientSqlStates.has(code) || code.startsWith("08"))
  return new LookupError({
    reason: new Unavailable({
      lookup,
      retryable,
      detail: code === undefined ? messageOf(error) : `${code}: ${messageOf(error)}`,
      cause: error
    })
  })
}
