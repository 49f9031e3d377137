// The REST subset of a Confluent-style schema registry, as a function from a
// parsed request to a response, so the HTTP layer only moves bytes.
import * as Compatibility from "./compatibility.ts"
import type { State, StoredSchema, StoredVersion } from "./store.ts"

export interface Request {
  readonly method: string
  readonly path: ReadonlyArray<string>
  readonly query: URLSearchParams
  /** The parsed JSON body; `undefined` when there was none. */
  readonly body: unknown
}

export interface Response {
  readonly status: number
  readonly body: unknown
}

/** Error codes a Confluent registry answers with, which clients switch on. */
export const ErrorCode = {
  unauthorized: 40101,
  subjectNotFound: 40401,
  versionNotFound: 40402,
  schemaNotFound: 40403,
  subjectLevelNotFound: 40408,
  incompatible: 409,
  invalidSchema: 42201,
  invalidVersion: 42202,
  invalidLevel: 42203,
  notFound: 404,
  unprocessable: 422
} as const

export const failure = (status: number, code: number, message: string): Response => ({
  status,
  body: { error_code: code, message }
})

const ok = (body: unknown): Response => ({ status: 200, body })

class Failure {
  readonly response: Response
  constructor(response: Response) {
    this.response = response
  }
}

const fail = (status: number, code: number, message: string): never => {
  throw new Failure(failure(status, code, message))
}

const field = (body: unknown, name: string): unknown =>
  typeof body === "object" && body !== null && name in body ? (body as Record<string, unknown>)[name] : undefined

export interface Api {
  readonly handle: (request: Request) => Response
}

/**
 * The request handler over `state`; `persist` runs after each change. It is
 * synchronous, so requests are applied one at a time and ids never race.
 */
export const make = (state: State, persist: (state: State) => void): Api => {
  const schemaById = (id: number): StoredSchema | undefined => state.schemas.find((s) => s.id === id)
  const live = (subject: string): ReadonlyArray<StoredVersion> =>
    (state.subjects[subject] ?? []).filter((v) => !v.deleted)
  const levelOf = (subject: string): Compatibility.Level => state.subjectLevels[subject] ?? state.globalLevel

  const typeOf = (body: unknown): Compatibility.SchemaType => {
    const type = field(body, "schemaType") ?? "AVRO"
    if (type === "AVRO" || type === "JSON") return type
    return fail(422, ErrorCode.invalidSchema, `Unsupported schema type ${String(type)}`)
  }

  const candidateOf = (body: unknown) => {
    const schema = field(body, "schema")
    if (typeof schema !== "string") return fail(422, ErrorCode.invalidSchema, "Invalid schema: the body has no schema")
    const references = field(body, "references")
    if (Array.isArray(references) && references.length > 0) {
      fail(422, ErrorCode.invalidSchema, "Invalid schema: schema references are not supported")
    }
    const schemaType = typeOf(body)
    const parsed = Compatibility.parse(schemaType, schema)
    if (typeof parsed === "string") return fail(422, ErrorCode.invalidSchema, parsed)
    return { schema, schemaType, ...parsed }
  }

  const subjectVersions = (subject: string, includeDeleted: boolean): ReadonlyArray<StoredVersion> => {
    const versions = includeDeleted ? (state.subjects[subject] ?? []) : live(subject)
    if (versions.length === 0) fail(404, ErrorCode.subjectNotFound, `Subject '${subject}' not found.`)
    return versions
  }

  const versionOf = (subject: string, spec: string, includeDeleted = false): StoredVersion => {
    const versions = subjectVersions(subject, includeDeleted)
    if (spec === "latest" || spec === "-1") return versions[versions.length - 1] as StoredVersion
    const number = Number(spec)
    if (!Number.isInteger(number) || number < 1) {
      return fail(
        422,
        ErrorCode.invalidVersion,
        `The specified version '${spec}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`
      )
    }
    const found = versions.find((v) => v.version === number)
    return found ?? fail(404, ErrorCode.versionNotFound, `Version ${spec} not found.`)
  }

  const describeVersion = (subject: string, version: StoredVersion) => {
    const stored = schemaById(version.id) as StoredSchema
    return {
      subject,
      version: version.version,
      id: version.id,
      ...(stored.schemaType === "AVRO" ? {} : { schemaType: stored.schemaType }),
      schema: stored.schema
    }
  }

  const problems = (subject: string, candidate: ReturnType<typeof candidateOf>, against?: StoredVersion) => {
    const versions = against === undefined ? live(subject) : [against]
    const level = against === undefined ? levelOf(subject) : levelOf(subject).replace("_TRANSITIVE", "")
    const existing = versions.map((v) => schemaById(v.id) as StoredSchema)
    if (level !== "NONE" && existing.some((s) => s.schemaType !== candidate.schemaType)) {
      return ["the schema type differs from the subject's"]
    }
    return Compatibility.check(
      candidate.schemaType,
      level as Compatibility.Level,
      candidate.tree,
      existing.map((s) => JSON.parse(s.schema))
    )
  }

  const register = (subject: string, body: unknown): Response => {
    const candidate = candidateOf(body)
    const versions = state.subjects[subject] ?? []
    const same = live(subject).find((v) => {
      const stored = schemaById(v.id)
      return stored?.canonical === candidate.canonical && stored.schemaType === candidate.schemaType
    })
    if (same !== undefined) return ok({ id: same.id })
    const found = problems(subject, candidate)
    if (found.length > 0) {
      return failure(
        409,
        ErrorCode.incompatible,
        `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: ${found.join("; ")}`
      )
    }
    let stored = state.schemas.find((s) => s.canonical === candidate.canonical && s.schemaType === candidate.schemaType)
    if (stored === undefined) {
      stored = {
        id: state.nextId++,
        schemaType: candidate.schemaType,
        schema: candidate.schema,
        canonical: candidate.canonical
      }
      state.schemas.push(stored)
    }
    const version = versions.reduce((max, v) => Math.max(max, v.version), 0) + 1
    state.subjects[subject] = [...versions, { version, id: stored.id, deleted: false }]
    persist(state)
    return ok({ id: stored.id })
  }

  const lookup = (subject: string, body: unknown): Response => {
    subjectVersions(subject, false)
    const candidate = candidateOf(body)
    const match = live(subject).find((v) => {
      const stored = schemaById(v.id)
      return stored?.canonical === candidate.canonical && stored.schemaType === candidate.schemaType
    })
    return match === undefined
      ? failure(404, ErrorCode.schemaNotFound, "Schema not found")
      : ok(describeVersion(subject, match))
  }

  const setLevel = (body: unknown, apply: (level: Compatibility.Level) => void): Response => {
    const level = field(body, "compatibility") ?? field(body, "compatibilityLevel")
    if (!Compatibility.isLevel(level)) {
      return failure(
        422,
        ErrorCode.invalidLevel,
        `Invalid compatibility level. Valid values are ${Compatibility.levels.join(", ")}`
      )
    }
    apply(level)
    persist(state)
    return ok({ compatibility: level })
  }

  const deleteSubject = (subject: string, permanent: boolean): Response => {
    const all = state.subjects[subject] ?? []
    if (all.length === 0) return failure(404, ErrorCode.subjectNotFound, `Subject '${subject}' not found.`)
    const live = all.filter((v) => !v.deleted)
    if (permanent) {
      if (live.length > 0) {
        return failure(404, 40405, `Subject '${subject}' was not deleted first before being permanently deleted`)
      }
      delete state.subjects[subject]
      delete state.subjectLevels[subject]
      persist(state)
      return ok(all.map((v) => v.version))
    }
    if (live.length === 0) return failure(404, 40404, `Subject '${subject}' was soft deleted.`)
    for (const v of live) v.deleted = true
    persist(state)
    return ok(live.map((v) => v.version))
  }

  const deleteVersion = (subject: string, spec: string, permanent: boolean): Response => {
    const version = versionOf(subject, spec, permanent)
    if (permanent) {
      if (!version.deleted) return failure(404, 40407, `Version ${version.version} was not deleted first`)
      state.subjects[subject] = (state.subjects[subject] ?? []).filter((v) => v !== version)
    } else version.deleted = true
    persist(state)
    return ok(version.version)
  }

  const route = (request: Request): Response => {
    const { method, path, query, body } = request
    const [head, a, b, c, d, e] = path
    const deleted = query.get("deleted") === "true"
    const permanent = query.get("permanent") === "true"
    if (head === "subjects") {
      if (a === undefined) {
        if (method === "GET")
          return ok(
            Object.keys(state.subjects)
              .filter((s) => (deleted ? (state.subjects[s] ?? []).length > 0 : live(s).length > 0))
              .sort()
          )
      } else if (b === undefined) {
        if (method === "POST") return lookup(a, body)
        if (method === "DELETE") return deleteSubject(a, permanent)
      } else if (b === "versions") {
        if (c === undefined) {
          if (method === "GET") return ok(subjectVersions(a, deleted).map((v) => v.version))
          if (method === "POST") return register(a, body)
        } else if (d === undefined) {
          if (method === "GET") return ok(describeVersion(a, versionOf(a, c, deleted)))
          if (method === "DELETE") return deleteVersion(a, c, permanent)
        } else if (d === "schema" && e === undefined && method === "GET") {
          return ok(JSON.parse((schemaById(versionOf(a, c, deleted).id) as StoredSchema).schema))
        }
      }
    } else if (head === "schemas" && a === "ids" && b !== undefined) {
      const stored = schemaById(Number(b))
      if (stored === undefined) return failure(404, ErrorCode.schemaNotFound, "Schema not found")
      if (c === undefined && method === "GET") {
        return ok({ ...(stored.schemaType === "AVRO" ? {} : { schemaType: stored.schemaType }), schema: stored.schema })
      }
      if (c === "versions" && d === undefined && method === "GET") {
        return ok(
          Object.entries(state.subjects).flatMap(([subject, versions]) =>
            versions
              .filter((v) => v.id === stored.id && (deleted || !v.deleted))
              .map((v) => ({ subject, version: v.version }))
          )
        )
      }
      if (c === "schema" && d === undefined && method === "GET") return ok(JSON.parse(stored.schema))
    } else if (head === "schemas" && a === "types" && b === undefined && method === "GET") {
      return ok(["AVRO", "JSON"])
    } else if (head === "compatibility" && a === "subjects" && b !== undefined && c === "versions" && d !== undefined) {
      if (method === "POST" && e === undefined) {
        const candidate = candidateOf(body)
        const found = problems(b, candidate, d === "latest" && live(b).length > 0 ? undefined : versionOf(b, d))
        return ok(
          query.get("verbose") === "true"
            ? { is_compatible: found.length === 0, messages: found }
            : { is_compatible: found.length === 0 }
        )
      }
    } else if (head === "config") {
      if (a === undefined) {
        if (method === "GET") return ok({ compatibilityLevel: state.globalLevel })
        if (method === "PUT") return setLevel(body, (level) => (state.globalLevel = level))
      } else if (b === undefined) {
        if (method === "GET") {
          const level =
            state.subjectLevels[a] ?? (query.get("defaultToGlobal") === "true" ? state.globalLevel : undefined)
          return level === undefined
            ? failure(
                404,
                ErrorCode.subjectLevelNotFound,
                `Subject '${a}' does not have subject-level compatibility configured`
              )
            : ok({ compatibilityLevel: level })
        }
        if (method === "PUT") return setLevel(body, (level) => (state.subjectLevels[a] = level))
        if (method === "DELETE") {
          const previous = state.subjectLevels[a] ?? state.globalLevel
          delete state.subjectLevels[a]
          persist(state)
          return ok({ compatibilityLevel: previous })
        }
      }
    } else if (head === undefined && method === "GET") {
      return ok({})
    }
    return failure(404, ErrorCode.notFound, `HTTP 404 Not Found: ${method} /${path.join("/")}`)
  }

  return {
    handle: (request) => {
      try {
        return route(request)
      } catch (error) {
        if (error instanceof Failure) return error.response
        throw error
      }
    }
  }
}
