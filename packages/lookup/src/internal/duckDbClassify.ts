import { LookupError, Timeout, Unavailable } from "../LookupError.ts"

// DuckDB reports errors as `<Type> Error: <detail>`; the type says what kind of failure it is.
const typeOf = (message: string): string | undefined => /^([A-Za-z ]+?) Error:/.exec(message)?.[1]

// The file or the engine failed under the query, or the connection went away:
// asking again may succeed. Everything else (parser, binder, catalog,
// conversion errors) will fail the same way every time.
const transient = new Set(["IO", "Connection", "Out of Memory", "FATAL", "Transaction"])

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const classify = (lookup: string, error: unknown): LookupError => {
  const message = messageOf(error)
  const type = typeOf(message)
  // An interrupted statement is one whose caller gave up waiting for it.
  if (type === "INTERRUPT") {
    return new LookupError({ reason: new Timeout({ lookup, cause: error }) })
  }
  return new LookupError({
    reason: new Unavailable({
      lookup,
      retryable: type !== undefined && transient.has(type),
      detail: message.split("\n")[0] ?? message,
      cause: error
    })
  })
}
