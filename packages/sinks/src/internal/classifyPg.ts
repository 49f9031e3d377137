import { Rejected, SinkError, Timeout, Unavailable } from "../SinkError.ts"

// The server or the path to it went away; a later attempt may find it back.
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

// Shutting down, starting, out of connections or resources, and the two
// conflicts a retried transaction resolves (serialization failure, deadlock).
const transientSqlStates = new Set(["57P01", "57P02", "57P03", "53300", "53400", "40001", "40P01"])

const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  if ("code" in error && typeof error.code === "string") return error.code
  if ("errors" in error && Array.isArray(error.errors)) {
    for (const inner of error.errors) {
      const code = codeOf(inner)
      if (code !== undefined) return code
    }
  }
  return undefined
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const classifyPg = (sink: string, error: unknown): SinkError => {
  const code = codeOf(error)
  // 57014: statement_timeout or a cancel; the write may pass on a calmer server.
  if (code === "57014") return new SinkError({ sink, reason: new Timeout({ timeoutMillis: 0 }), cause: error })
  const detail = code === undefined ? messageOf(error) : `${code}: ${messageOf(error)}`
  const transient =
    code !== undefined && (connectionCodes.has(code) || transientSqlStates.has(code) || code.startsWith("08"))
  if (transient) return new SinkError({ sink, reason: new Unavailable({ retryable: true, detail }), cause: error })
  // A SQLSTATE of another class is the server refusing this statement; without a code we cannot tell.
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code)
    ? new SinkError({ sink, reason: new Rejected({ detail }), cause: error })
    : new SinkError({ sink, reason: new Unavailable({ retryable: false, detail }), cause: error })
}
