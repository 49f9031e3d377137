/**
 * Topic configuration the broker acts on, parsed from CreateTopics config
 * entries: `cleanup.policy` (compact turns on log compaction),
 * `delete.retention.ms` (how long a tombstone survives once compaction has
 * seen it), `min.cleanable.dirty.ratio` (how much of the closed part of a
 * log must be new before it is compacted again) and `segment.bytes` (the size
 * of the active segment, which compaction never touches; absent means the
 * broker's default). Other entries are kept, so they persist, but have no
 * effect.
 */
import { ErrorCode } from "../protocol/apiKeys.ts"

export interface TopicConfig {
  readonly entries: Readonly<Record<string, string>>
  readonly compact: boolean
  readonly deleteRetentionMs: number
  readonly minCleanableDirtyRatio: number
  /** `segment.bytes`, or `undefined` for the broker-wide default. */
  readonly segmentBytes: number | undefined
}

// Kafka's defaults.
const DEFAULT_DELETE_RETENTION_MS = 86_400_000
const DEFAULT_DIRTY_RATIO = 0.5

export const defaultConfig: TopicConfig = {
  entries: {},
  compact: false,
  deleteRetentionMs: DEFAULT_DELETE_RETENTION_MS,
  minCleanableDirtyRatio: DEFAULT_DIRTY_RATIO,
  segmentBytes: undefined
}

/** Parses config entries; an error code (INVALID_CONFIG) for values Kafka would refuse. */
export const parseConfig = (entries: Readonly<Record<string, string>>): TopicConfig | number => {
  const policy = entries["cleanup.policy"]
  let compact = false
  if (policy !== undefined) {
    const parts = policy.split(",").map((p) => p.trim())
    if (parts.length === 0 || parts.some((p) => p !== "compact" && p !== "delete")) return ErrorCode.INVALID_CONFIG
    compact = parts.includes("compact")
  }
  const number = (name: string, fallback: number, ok: (n: number) => boolean): number | undefined => {
    const raw = entries[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    return raw.trim() !== "" && Number.isFinite(n) && ok(n) ? n : undefined
  }
  const deleteRetentionMs = number("delete.retention.ms", DEFAULT_DELETE_RETENTION_MS, (n) => n >= 0)
  const minCleanableDirtyRatio = number("min.cleanable.dirty.ratio", DEFAULT_DIRTY_RATIO, (n) => n >= 0 && n <= 1)
  // Kafka refuses small segments; any positive size is taken here, so a test can close every batch it writes.
  const segmentBytes =
    entries["segment.bytes"] === undefined
      ? undefined
      : number("segment.bytes", 0, (n) => Number.isInteger(n) && n >= 1)
  if (deleteRetentionMs === undefined || minCleanableDirtyRatio === undefined) return ErrorCode.INVALID_CONFIG
  if (entries["segment.bytes"] !== undefined && segmentBytes === undefined) return ErrorCode.INVALID_CONFIG
  return { entries: { ...entries }, compact, deleteRetentionMs, minCleanableDirtyRatio, segmentBytes }
}
