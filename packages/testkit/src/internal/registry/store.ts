// The registry's state: schemas by id, subjects and their versions, and
// compatibility configuration; written whole to the data directory after
// every change so a restart keeps ids and versions.
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Level, SchemaType } from "./compatibility.ts"

export interface StoredSchema {
  readonly id: number
  readonly schemaType: SchemaType
  readonly schema: string
  readonly canonical: string
}

export interface StoredVersion {
  readonly version: number
  readonly id: number
  deleted: boolean
}

export interface State {
  nextId: number
  readonly schemas: Array<StoredSchema>
  readonly subjects: Record<string, Array<StoredVersion>>
  globalLevel: Level
  readonly subjectLevels: Record<string, Level>
}

const fileName = "schema-registry.json"

export const empty = (globalLevel: Level): State => ({
  nextId: 1,
  schemas: [],
  subjects: {},
  globalLevel,
  subjectLevels: {}
})

/** Reads the state from `dir`, or an empty state when it holds none yet. */
export const load = (dir: string, globalLevel: Level): State => {
  Fs.mkdirSync(dir, { recursive: true })
  const file = Path.join(dir, fileName)
  if (!Fs.existsSync(file)) return empty(globalLevel)
  return JSON.parse(Fs.readFileSync(file, "utf8")) as State
}

/** Writes the state to `dir`, replacing the file in one rename so a crash leaves the old or the new one. */
export const save = (dir: string, state: State): void => {
  const file = Path.join(dir, fileName)
  const temporary = `${file}.tmp`
  Fs.writeFileSync(temporary, JSON.stringify(state))
  Fs.renameSync(temporary, file)
}
