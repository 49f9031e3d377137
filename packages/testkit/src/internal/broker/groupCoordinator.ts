/**
 * Classic consumer-group coordination (JoinGroup/SyncGroup rounds) for a
 * single broker that coordinates every group. States follow Kafka's:
 * Empty → PreparingRebalance → CompletingRebalance → Stable.
 *
 * A rebalance completes when every known member has rejoined, or when the
 * rebalance timeout expires (members that did not rejoin are dropped). A
 * member whose session expires without a heartbeat is evicted and triggers a
 * rebalance. Time comes from the `now` function the broker builds from the
 * Effect `Clock`, and `tick` is driven by a fiber on that clock, so group
 * timing follows `TestClock` in tests.
 *
 * Static membership (KIP-345): a member that joins with a group instance id
 * is remembered by it. When it comes back under a new member id (a restarted
 * process) while the group is stable, it takes over the old member's place
 * and assignment at the current generation, and nobody else rebalances; the
 * old member id is fenced (FENCED_INSTANCE_ID). A returning leader is told
 * the leader id it had, so it does not assign again (Kafka does the same); the
 * next rebalance makes it leader under its new id. A return during a
 * rebalance joins that rebalance. A static member never announces its
 * departure: until it returns, its partitions wait for it, and only when its
 * session times out is it removed and the group rebalanced. Each member's
 * session timeout is the one it sent in its latest JoinGroup.
 */
import { randomUUID } from "node:crypto"
import { ErrorCode } from "../protocol/apiKeys.ts"
import type { DescribedGroup, JoinGroupRequest, JoinGroupResponse } from "../protocol/groups.ts"

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead"

interface Member {
  memberId: string
  readonly groupInstanceId: string | null
  readonly clientId: string
  readonly clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocols: ReadonlyArray<{ readonly name: string; readonly metadata: Buffer }>
  assignment: Buffer
  lastHeartbeat: number
  join: ((res: JoinGroupResponse) => void) | null
  sync: ((errorCode: number, assignment: Buffer) => void) | null
}

export interface CommittedOffset {
  readonly offset: number
  readonly metadata: string | null
}

class Group {
  readonly id: string
  state: GroupState = "Empty"
  generation = 0
  protocolType = ""
  protocol = ""
  leader = ""
  readonly members = new Map<string, Member>()
  /** Group instance id → member id of its current incarnation. */
  readonly statics = new Map<string, string>()
  rebalanceDeadline = 0
  joinNotBefore = 0
  readonly offsets = new Map<string, Map<number, CommittedOffset>>()
  constructor(id: string) {
    this.id = id
  }
}

export interface CoordinatorOptions {
  readonly now: () => number
  readonly minSessionTimeoutMs: number
  readonly maxSessionTimeoutMs: number
  readonly initialRebalanceDelayMs: number
  readonly onCommit: (group: string, topic: string, partition: number, committed: CommittedOffset) => void
}

const EMPTY = Buffer.alloc(0)

// Ends a member's pending JoinGroup: it was replaced by a newer request or the member left.
const answerJoinAsUnknown = (m: Member): void =>
  m.join?.({
    errorCode: ErrorCode.UNKNOWN_MEMBER_ID,
    generationId: -1,
    protocolName: "",
    leader: "",
    memberId: m.memberId,
    members: []
  })

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>()
  private readonly options: CoordinatorOptions

  constructor(options: CoordinatorOptions) {
    this.options = options
  }

  private group(id: string): Group {
    let g = this.groups.get(id)
    if (g === undefined) {
      g = new Group(id)
      this.groups.set(id, g)
    }
    return g
  }

  join(req: JoinGroupRequest, clientId: string, clientHost: string, respond: (res: JoinGroupResponse) => void): void {
    const fail = (errorCode: number) =>
      respond({ errorCode, generationId: -1, protocolName: "", leader: "", memberId: req.memberId, members: [] })
    if (req.groupId === "") {
      fail(ErrorCode.INVALID_GROUP_ID)
      return
    }
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.options
    if (req.sessionTimeoutMs < minSessionTimeoutMs || req.sessionTimeoutMs > maxSessionTimeoutMs) {
      fail(ErrorCode.INVALID_SESSION_TIMEOUT)
      return
    }
    const g = this.group(req.groupId)
    if (g.members.size > 0 && g.protocolType !== req.protocolType) {
      fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
      return
    }
    if (req.protocols.length === 0) {
      fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
      return
    }
    const now = this.options.now()
    const instanceId = req.groupInstanceId ?? null
    const known = instanceId === null ? undefined : g.statics.get(instanceId)
    if (known !== undefined && req.memberId !== "" && req.memberId !== known) {
      fail(ErrorCode.FENCED_INSTANCE_ID)
      return
    }
    let m: Member | undefined
    if (req.memberId === "" && known !== undefined && g.members.has(known)) {
      // The leader as members know it; a returning leader is told its old id
      // (as Kafka does), so it syncs as a follower instead of assigning again
      // in a stable group, which would hand the new assignment to nobody.
      const leaderBefore = g.leader
      m = this.replaceStatic(g, g.members.get(known)!, `${clientId}-${randomUUID()}`, req, now)
      if (g.state === "Stable") {
        // A known static member returns: same generation and assignment, no rebalance for the others.
        respond({
          errorCode: ErrorCode.NONE,
          generationId: g.generation,
          protocolName: g.protocol,
          leader: leaderBefore,
          memberId: m.memberId,
          members: []
        })
        return
      }
    } else if (req.memberId === "") {
      m = {
        memberId: `${clientId}-${randomUUID()}`,
        groupInstanceId: instanceId,
        clientId,
        clientHost,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        protocols: req.protocols,
        assignment: EMPTY,
        lastHeartbeat: now,
        join: null,
        sync: null
      }
      g.members.set(m.memberId, m)
      if (instanceId !== null) g.statics.set(instanceId, m.memberId)
    } else {
      m = g.members.get(req.memberId)
      if (m === undefined) {
        fail(ErrorCode.UNKNOWN_MEMBER_ID)
        return
      }
      m.sessionTimeoutMs = req.sessionTimeoutMs
      m.rebalanceTimeoutMs = req.rebalanceTimeoutMs
      m.protocols = req.protocols
      m.lastHeartbeat = now
    }
    g.protocolType = req.protocolType
    // A member that joins twice before the round ends keeps only its latest request.
    answerJoinAsUnknown(m)
    m.join = respond
    if (g.state !== "PreparingRebalance") this.prepareRebalance(g, now)
    this.maybeCompleteJoin(g, now)
  }

  /**
   * Gives a static member's place to its new incarnation: the old member id
   * is fenced (its parked requests fail), the assignment carries over.
   */
  private replaceStatic(g: Group, old: Member, memberId: string, req: JoinGroupRequest, now: number): Member {
    old.join?.({
      errorCode: ErrorCode.FENCED_INSTANCE_ID,
      generationId: -1,
      protocolName: "",
      leader: "",
      memberId: old.memberId,
      members: []
    })
    old.join = null
    old.sync?.(ErrorCode.FENCED_INSTANCE_ID, EMPTY)
    old.sync = null
    const m: Member = {
      ...old,
      memberId,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocols: req.protocols,
      lastHeartbeat: now
    }
    g.members.delete(old.memberId)
    g.members.set(memberId, m)
    g.statics.set(m.groupInstanceId!, memberId)
    if (g.leader === old.memberId) g.leader = memberId
    return m
  }

  /** FENCED_INSTANCE_ID when a request names an instance id whose current member is someone else. */
  private fenced(g: Group | undefined, memberId: string, groupInstanceId: string | null): boolean {
    if (g === undefined || groupInstanceId === null) return false
    const current = g.statics.get(groupInstanceId)
    return current !== undefined && current !== memberId
  }

  private prepareRebalance(g: Group, now: number): void {
    const wasEmpty = g.state === "Empty" || g.state === "Dead"
    g.state = "PreparingRebalance"
    let timeout = 0
    for (const m of g.members.values()) {
      if (m.rebalanceTimeoutMs > timeout) timeout = m.rebalanceTimeoutMs
      if (m.sync !== null) {
        m.sync(ErrorCode.REBALANCE_IN_PROGRESS, EMPTY)
        m.sync = null
      }
    }
    g.rebalanceDeadline = now + timeout
    g.joinNotBefore = wasEmpty ? now + this.options.initialRebalanceDelayMs : now
  }

  private maybeCompleteJoin(g: Group, now: number): void {
    if (g.state !== "PreparingRebalance" || now < g.joinNotBefore) return
    for (const m of g.members.values()) if (m.join === null) return
    this.completeJoin(g, now)
  }

  private completeJoin(g: Group, now: number): void {
    g.generation++
    if (g.members.size === 0) {
      g.state = "Empty"
      g.leader = ""
      g.protocol = ""
      return
    }
    const members = [...g.members.values()]
    if (!g.members.has(g.leader)) g.leader = members[0]!.memberId
    const leader = g.members.get(g.leader)!
    const common = leader.protocols.find((p) => members.every((m) => m.protocols.some((q) => q.name === p.name)))
    if (common === undefined) {
      for (const m of members) {
        m.join?.({
          errorCode: ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
          generationId: -1,
          protocolName: "",
          leader: "",
          memberId: m.memberId,
          members: []
        })
        g.members.delete(m.memberId)
      }
      g.state = "Empty"
      return
    }
    g.protocol = common.name
    g.state = "CompletingRebalance"
    const all = members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.protocols.find((p) => p.name === common.name)!.metadata
    }))
    for (const m of members) {
      m.lastHeartbeat = now
      m.assignment = EMPTY
      const respond = m.join
      m.join = null
      respond?.({
        errorCode: ErrorCode.NONE,
        generationId: g.generation,
        protocolName: g.protocol,
        leader: g.leader,
        memberId: m.memberId,
        members: m.memberId === g.leader ? all : []
      })
    }
  }

  sync(
    groupId: string,
    generationId: number,
    memberId: string,
    assignments: ReadonlyArray<{ readonly memberId: string; readonly assignment: Buffer }>,
    respond: (errorCode: number, assignment: Buffer) => void,
    groupInstanceId: string | null = null
  ): void {
    const g = this.groups.get(groupId)
    if (this.fenced(g, memberId, groupInstanceId)) {
      respond(ErrorCode.FENCED_INSTANCE_ID, EMPTY)
      return
    }
    const m = g?.members.get(memberId)
    if (g === undefined || m === undefined) {
      respond(ErrorCode.UNKNOWN_MEMBER_ID, EMPTY)
      return
    }
    if (generationId !== g.generation) {
      respond(ErrorCode.ILLEGAL_GENERATION, EMPTY)
      return
    }
    m.lastHeartbeat = this.options.now()
    if (g.state === "PreparingRebalance") {
      respond(ErrorCode.REBALANCE_IN_PROGRESS, EMPTY)
      return
    }
    if (g.state === "Stable") {
      respond(ErrorCode.NONE, m.assignment)
      return
    }
    if (memberId !== g.leader) {
      m.sync = respond
      return
    }
    for (const a of assignments) {
      const target = g.members.get(a.memberId)
      if (target !== undefined) target.assignment = a.assignment
    }
    g.state = "Stable"
    respond(ErrorCode.NONE, m.assignment)
    for (const other of g.members.values()) {
      const waiting = other.sync
      other.sync = null
      waiting?.(ErrorCode.NONE, other.assignment)
    }
  }

  heartbeat(groupId: string, generationId: number, memberId: string, groupInstanceId: string | null = null): number {
    const g = this.groups.get(groupId)
    if (this.fenced(g, memberId, groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID
    const m = g?.members.get(memberId)
    if (g === undefined || m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
    if (generationId !== g.generation) return ErrorCode.ILLEGAL_GENERATION
    m.lastHeartbeat = this.options.now()
    return g.state === "PreparingRebalance" ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE
  }

  /**
   * Removes a member. A static member may be named by its instance id alone
   * (empty member id, as admin tools do); naming an old incarnation is fenced.
   */
  leave(groupId: string, memberId: string, groupInstanceId: string | null = null): number {
    const g = this.groups.get(groupId)
    if (g === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
    let id = memberId
    if (groupInstanceId !== null) {
      const current = g.statics.get(groupInstanceId)
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
      if (memberId !== "" && memberId !== current) return ErrorCode.FENCED_INSTANCE_ID
      id = current
    }
    const m = g.members.get(id)
    if (m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
    this.remove(g, m, this.options.now())
    return ErrorCode.NONE
  }

  private remove(g: Group, m: Member, now: number): void {
    g.members.delete(m.memberId)
    if (m.groupInstanceId !== null && g.statics.get(m.groupInstanceId) === m.memberId)
      g.statics.delete(m.groupInstanceId)
    m.sync?.(ErrorCode.REBALANCE_IN_PROGRESS, EMPTY)
    m.sync = null
    answerJoinAsUnknown(m)
    m.join = null
    if (g.state === "Stable" || g.state === "CompletingRebalance") this.prepareRebalance(g, now)
    this.maybeCompleteJoin(g, now)
  }

  /** Evicts expired members and ends overdue rebalances; driven by a fiber on the Effect clock. */
  tick(): void {
    const now = this.options.now()
    for (const g of this.groups.values()) {
      for (const m of [...g.members.values()]) {
        // Members parked in JoinGroup are bounded by the rebalance timeout, not their session.
        if (m.join === null && now - m.lastHeartbeat > m.sessionTimeoutMs) this.remove(g, m, now)
      }
      if (g.state === "PreparingRebalance") {
        if (now >= g.rebalanceDeadline) {
          for (const m of [...g.members.values()]) {
            if (m.join !== null) continue
            g.members.delete(m.memberId)
            if (m.groupInstanceId !== null && g.statics.get(m.groupInstanceId) === m.memberId) {
              g.statics.delete(m.groupInstanceId)
            }
          }
          if (now >= g.joinNotBefore) this.completeJoin(g, now)
        } else {
          this.maybeCompleteJoin(g, now)
        }
      }
    }
  }

  commit(
    groupId: string,
    generationId: number,
    memberId: string,
    offsets: ReadonlyArray<{ topic: string; partition: number; committed: CommittedOffset }>
  ): number {
    const g = this.group(groupId)
    // Generation -1 is a commit from outside the group protocol (admin tools, manual assignment).
    if (generationId >= 0 || memberId !== "") {
      const m = g.members.get(memberId)
      if (m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID
      if (generationId !== g.generation) return ErrorCode.ILLEGAL_GENERATION
      // As Kafka does: a member of the current generation may commit while the
      // rebalance is being prepared (that is when a revoking consumer commits
      // its final offsets), but not while the new assignment is being handed out.
      if (g.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS
      m.lastHeartbeat = this.options.now()
    }
    for (const o of offsets) this.restoreOffset(groupId, o.topic, o.partition, o.committed)
    for (const o of offsets) this.options.onCommit(groupId, o.topic, o.partition, o.committed)
    return ErrorCode.NONE
  }

  /** Sets a committed offset without validation (replay from disk). */
  restoreOffset(groupId: string, topic: string, partition: number, committed: CommittedOffset): void {
    const g = this.group(groupId)
    let t = g.offsets.get(topic)
    if (t === undefined) {
      t = new Map()
      g.offsets.set(topic, t)
    }
    t.set(partition, committed)
  }

  committed(groupId: string): ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>> {
    return this.groups.get(groupId)?.offsets ?? new Map()
  }

  describe(groupId: string): DescribedGroup {
    const g = this.groups.get(groupId)
    if (g === undefined) {
      return { errorCode: 0, groupId, state: "Dead", protocolType: "", protocol: "", members: [] }
    }
    return {
      errorCode: 0,
      groupId,
      state: g.state,
      protocolType: g.protocolType,
      protocol: g.protocol,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: m.protocols.find((p) => p.name === g.protocol)?.metadata ?? EMPTY,
        assignment: m.assignment
      }))
    }
  }

  /**
   * Whether `memberId` at `generationId` is a current member of the group,
   * for offsets committed through a transaction (KIP-447); an error code or 0.
   */
  checkMember(groupId: string, generationId: number, memberId: string, groupInstanceId: string | null): number {
    const g = this.groups.get(groupId)
    if (this.fenced(g, memberId, groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID
    if (g === undefined || !g.members.has(memberId)) return ErrorCode.UNKNOWN_MEMBER_ID
    if (generationId !== g.generation) return ErrorCode.ILLEGAL_GENERATION
    return ErrorCode.NONE
  }

  /** The group's current generation (0 for a group never rebalanced). */
  generation(groupId: string): number {
    return this.groups.get(groupId)?.generation ?? 0
  }

  list(): ReadonlyArray<{ groupId: string; protocolType: string }> {
    return [...this.groups.values()].map((g) => ({ groupId: g.id, protocolType: g.protocolType }))
  }
}
