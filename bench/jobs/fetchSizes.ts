/**
 * The fetch sizes of the hand-written baselines: those `sluice` uses by
 * default (`KafkaSource.defaultFetchMinBytes`, `defaultFetchMaxWait`,
 * `defaultFetchIdleWait`), so the comparison is of the work each job does
 * per record, not of how it fetches. While records flow a fetch asks for
 * 64 KiB within 20 ms; after one that brought nothing, for one byte within
 * 5 s (`idleMaxWaitTimeInMs`, the repository's kafkajs patch).
 */
export const fetchSizes = { minBytes: 64 * 1024, maxWaitTimeInMs: 20, idleMaxWaitTimeInMs: 5_000 } as const
