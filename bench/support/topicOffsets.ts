/**
 * How far a topic goes and how far a consumer group has committed in it,
 * summed over partitions: a run is over when its group's committed offsets
 * reach the input's end offsets.
 */
import type { Admin } from "kafkajs"

/** Sum of the partitions' high watermarks: the records the topic holds (it starts at offset 0). */
export const endOffsetSum = async (admin: Admin, topic: string): Promise<number> => {
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.reduce((sum, p) => sum + Number(p.high), 0)
}

/** Sum of the group's committed offsets in `topic` (partitions without a commit count 0). */
export const committedSum = async (admin: Admin, groupId: string, topic: string): Promise<number> => {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return (entry?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
}

/**
 * Polls the group's commits until they reach `target` records, the deadline
 * passes or `abort` resolves (say, the job died); resolves with the last sum seen.
 */
export const waitForCommitted = async (
  admin: Admin,
  groupId: string,
  topic: string,
  target: number,
  options: { readonly timeoutMillis: number; readonly pollMillis?: number; readonly abort?: Promise<unknown> }
): Promise<{ readonly committed: number; readonly reached: boolean }> => {
  const deadline = performance.now() + options.timeoutMillis
  let aborted = false
  void options.abort?.then(() => {
    aborted = true
  })
  let committed = 0
  while (true) {
    committed = await committedSum(admin, groupId, topic)
    if (committed >= target) return { committed, reached: true }
    if (aborted || performance.now() > deadline) return { committed, reached: false }
    await new Promise((r) => setTimeout(r, options.pollMillis ?? 250))
  }
}
