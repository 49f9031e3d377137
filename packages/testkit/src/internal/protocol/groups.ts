/**
 * Group membership codecs: FindCoordinator v0–v2, JoinGroup v0–v5,
 * SyncGroup v0–v3, Heartbeat v0–v3, LeaveGroup v0–v3, DescribeGroups v0–v2,
 * ListGroups v0–v2. The v5/v3 versions carry the group instance id of static
 * members (KIP-345). The broker never asks for the KIP-394 "member id
 * required" round trip that JoinGroup v4 allows: it is optional for brokers.
 */
import type { Reader } from "./reader.ts"
import type { Writer } from "./writer.ts"

export const decodeFindCoordinator = (r: Reader, version: number): { key: string; keyType: number } => ({
  key: r.string(),
  keyType: version >= 1 ? r.int8() : 0
})

export const encodeFindCoordinator = (
  w: Writer,
  version: number,
  errorCode: number,
  nodeId: number,
  host: string,
  port: number
): void => {
  if (version >= 1) w.int32(0)
  w.int16(errorCode)
  if (version >= 1) w.nullableString(null)
  w.int32(nodeId).string(host).int32(port)
}

export interface JoinGroupRequest {
  readonly groupId: string
  readonly sessionTimeoutMs: number
  readonly rebalanceTimeoutMs: number
  readonly memberId: string
  /** KIP-345 static membership: the member's stable identity across restarts (JoinGroup v5+). */
  readonly groupInstanceId?: string | null
  readonly protocolType: string
  readonly protocols: ReadonlyArray<{ readonly name: string; readonly metadata: Buffer }>
}

export const decodeJoinGroup = (r: Reader, version: number): JoinGroupRequest => {
  const groupId = r.string()
  const sessionTimeoutMs = r.int32()
  const rebalanceTimeoutMs = version >= 1 ? r.int32() : sessionTimeoutMs
  const memberId = r.string()
  const groupInstanceId = version >= 5 ? r.nullableString() : null
  return {
    groupId,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    memberId,
    groupInstanceId,
    protocolType: r.string(),
    protocols: r.array((r) => ({ name: r.string(), metadata: Buffer.from(r.bytes()) }), 6)
  }
}

export interface JoinGroupResponse {
  readonly errorCode: number
  readonly generationId: number
  readonly protocolName: string
  readonly leader: string
  readonly memberId: string
  readonly members: ReadonlyArray<{
    readonly memberId: string
    readonly groupInstanceId?: string | null
    readonly metadata: Buffer
  }>
}

export const encodeJoinGroup = (w: Writer, version: number, res: JoinGroupResponse): void => {
  if (version >= 2) w.int32(0)
  w.int16(res.errorCode).int32(res.generationId).string(res.protocolName).string(res.leader).string(res.memberId)
  w.array(res.members, (w, m) => {
    w.string(m.memberId)
    if (version >= 5) w.nullableString(m.groupInstanceId ?? null)
    w.bytes(m.metadata)
  })
}

export interface SyncGroupRequest {
  readonly groupId: string
  readonly generationId: number
  readonly memberId: string
  readonly groupInstanceId: string | null
  readonly assignments: ReadonlyArray<{ readonly memberId: string; readonly assignment: Buffer }>
}

export const decodeSyncGroup = (r: Reader, version = 0): SyncGroupRequest => ({
  groupId: r.string(),
  generationId: r.int32(),
  memberId: r.string(),
  groupInstanceId: version >= 3 ? r.nullableString() : null,
  assignments: r.array((r) => ({ memberId: r.string(), assignment: Buffer.from(r.bytes()) }), 6)
})

export const encodeSyncGroup = (w: Writer, version: number, errorCode: number, assignment: Buffer): void => {
  if (version >= 1) w.int32(0)
  w.int16(errorCode).bytes(assignment)
}

export const decodeHeartbeat = (
  r: Reader,
  version = 0
): { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null } => ({
  groupId: r.string(),
  generationId: r.int32(),
  memberId: r.string(),
  groupInstanceId: version >= 3 ? r.nullableString() : null
})

export interface LeavingMember {
  readonly memberId: string
  readonly groupInstanceId: string | null
}

/** LeaveGroup v0–v2 names one member; v3 a batch of members, each possibly static. */
export const decodeLeaveGroup = (
  r: Reader,
  version = 0
): { groupId: string; members: ReadonlyArray<LeavingMember> } => {
  const groupId = r.string()
  if (version < 3) return { groupId, members: [{ memberId: r.string(), groupInstanceId: null }] }
  return { groupId, members: r.array((r) => ({ memberId: r.string(), groupInstanceId: r.nullableString() }), 4) }
}

export const encodeLeaveGroup = (
  w: Writer,
  version: number,
  errorCode: number,
  members: ReadonlyArray<LeavingMember & { readonly errorCode: number }>
): void => {
  if (version < 3) {
    encodeErrorOnly(w, version, members[0]?.errorCode ?? errorCode)
    return
  }
  w.int32(0).int16(errorCode)
  w.array(members, (w, m) => {
    w.string(m.memberId).nullableString(m.groupInstanceId).int16(m.errorCode)
  })
}

/** Heartbeat and LeaveGroup share this body. */
export const encodeErrorOnly = (w: Writer, version: number, errorCode: number): void => {
  if (version >= 1) w.int32(0)
  w.int16(errorCode)
}

export interface DescribedGroup {
  readonly errorCode: number
  readonly groupId: string
  readonly state: string
  readonly protocolType: string
  readonly protocol: string
  readonly members: ReadonlyArray<{
    readonly memberId: string
    readonly clientId: string
    readonly clientHost: string
    readonly metadata: Buffer
    readonly assignment: Buffer
  }>
}

export const decodeDescribeGroups = (r: Reader): ReadonlyArray<string> => r.array((r) => r.string(), 2)

export const encodeDescribeGroups = (w: Writer, version: number, groups: ReadonlyArray<DescribedGroup>): void => {
  if (version >= 1) w.int32(0)
  w.array(groups, (w, g) => {
    w.int16(g.errorCode).string(g.groupId).string(g.state).string(g.protocolType).string(g.protocol)
    w.array(g.members, (w, m) => {
      w.string(m.memberId).string(m.clientId).string(m.clientHost).bytes(m.metadata).bytes(m.assignment)
    })
  })
}

export const encodeListGroups = (
  w: Writer,
  version: number,
  groups: ReadonlyArray<{ readonly groupId: string; readonly protocolType: string }>
): void => {
  if (version >= 1) w.int32(0)
  w.int16(0)
  w.array(groups, (w, g) => {
    w.string(g.groupId).string(g.protocolType)
  })
}
