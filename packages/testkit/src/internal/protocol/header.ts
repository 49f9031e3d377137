/**
 * Request headers (v1, and v2 for flexible requests), response headers, and
 * the ApiVersions codec. ApiVersions responses always use header v0 so that a
 * client can read them before it knows which versions the broker speaks.
 */
import { isFlexible, SUPPORTED } from "./apiKeys.ts"
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

/** Reads the fields common to every header version (key, version, correlation id). */
export const readHeaderPrefix = (r: Reader): { apiKey: number; apiVersion: number; correlationId: number } => ({
  apiKey: r.int16(),
  apiVersion: r.int16(),
  correlationId: r.int32()
})

/** Reads the client id (and, for flexible requests, the header's tagged fields). */
export const readHeaderRest = (
  r: Reader,
  prefix: { apiKey: number; apiVersion: number; correlationId: number }
): RequestHeader => {
  const clientId = r.nullableString()
  if (isFlexible(prefix.apiKey, prefix.apiVersion)) r.taggedFields()
  return { ...prefix, clientId }
}

export interface ApiVersionsRequest {
  readonly clientSoftwareName: string | null
  readonly clientSoftwareVersion: string | null
}

export const decodeApiVersions = (r: Reader, version: number): ApiVersionsRequest => {
  if (version < 3) return { clientSoftwareName: null, clientSoftwareVersion: null }
  const clientSoftwareName = r.compactString()
  const clientSoftwareVersion = r.compactString()
  r.taggedFields()
  return { clientSoftwareName, clientSoftwareVersion }
}

/**
 * Encodes the ApiVersions body. For an unsupported request version KIP-511
 * asks for a v0 body (error 35 plus the ranges), which the caller selects by
 * passing `version` 0.
 */
export const encodeApiVersions = (w: Writer, version: number, errorCode: number): void => {
  if (version >= 3) {
    w.int16(errorCode)
    w.compactArray(SUPPORTED, (w, [k, min, max]) => {
      w.int16(k).int16(min).int16(max).taggedFields()
    })
    w.int32(0).taggedFields()
    return
  }
  w.int16(errorCode)
  w.array(SUPPORTED, (w, [k, min, max]) => {
    w.int16(k).int16(min).int16(max)
  })
  if (version >= 1) w.int32(0)
}
