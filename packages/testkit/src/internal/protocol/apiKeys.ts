/**
 * API keys, the version ranges this broker implements, and error codes.
 * Only non-flexible versions are implemented, except ApiVersions v3, which
 * librdkafka sends first, and TxnOffsetCommit v3 (KIP-447).
 */

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  TxnOffsetCommit: 28
} as const

/** [apiKey, minVersion, maxVersion] advertised in ApiVersions. */
export const SUPPORTED: ReadonlyArray<readonly [number, number, number]> = [
  [ApiKey.Produce, 3, 7],
  [ApiKey.Fetch, 4, 11],
  [ApiKey.ListOffsets, 1, 5],
  [ApiKey.Metadata, 0, 7],
  [ApiKey.OffsetCommit, 2, 5],
  [ApiKey.OffsetFetch, 1, 7],
  [ApiKey.FindCoordinator, 0, 2],
  [ApiKey.JoinGroup, 0, 5],
  [ApiKey.Heartbeat, 0, 3],
  [ApiKey.LeaveGroup, 0, 3],
  [ApiKey.SyncGroup, 0, 3],
  [ApiKey.DescribeGroups, 0, 2],
  [ApiKey.ListGroups, 0, 2],
  [ApiKey.ApiVersions, 0, 3],
  [ApiKey.CreateTopics, 0, 4],
  [ApiKey.DeleteTopics, 0, 3],
  [ApiKey.InitProducerId, 0, 1],
  [ApiKey.AddPartitionsToTxn, 0, 1],
  [ApiKey.AddOffsetsToTxn, 0, 1],
  [ApiKey.EndTxn, 0, 1],
  [ApiKey.TxnOffsetCommit, 0, 3]
]

const ranges = new Map(SUPPORTED.map(([k, min, max]) => [k, [min, max] as const]))

export const isKnownKey = (key: number): boolean => ranges.has(key)

export const isSupported = (key: number, version: number): boolean => {
  const r = ranges.get(key)
  return r !== undefined && version >= r[0] && version <= r[1]
}

/**
 * Whether a request uses header v2 (flexible): ApiVersions v3, TxnOffsetCommit
 * v3 (the KIP-447 version, which carries the group generation) and
 * OffsetFetch v6 and up (v7 carries KIP-447's `require_stable`).
 */
export const isFlexible = (key: number, version: number): boolean =>
  ((key === ApiKey.ApiVersions || key === ApiKey.TxnOffsetCommit) && version >= 3) ||
  (key === ApiKey.OffsetFetch && version >= 6)

export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_FETCH_SIZE: 4,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  INVALID_PRODUCER_ID_MAPPING: 49,
  INVALID_TRANSACTION_TIMEOUT: 50,
  CONCURRENT_TRANSACTIONS: 51,
  OPERATION_NOT_ATTEMPTED: 55,
  UNKNOWN_PRODUCER_ID: 59,
  GROUP_ID_NOT_FOUND: 69,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  FENCED_INSTANCE_ID: 82,
  UNSTABLE_OFFSET_COMMIT: 88
} as const
