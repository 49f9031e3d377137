/**
 * Realistic business events for the seed's tables, deterministic for a seed:
 * `LoanCreated`, `CarCreated`, `LoanPaymentSubmitted` and service events
 * (`ServiceScheduled`, `ServiceCompleted`), each a `business_events` row
 * whose `updated_attributes` is the nested event body, padded with a notes
 * array to a payload size drawn between `minBytes` and `maxBytes` (400 B to
 * 64 KB by default, as the seed's load script offers). Event `i` of a seed is
 * always the same, so a run can be replayed and checked.
 *
 * @since 0.1.0
 */
import * as Prng from "../../Prng.ts"

/**
 * The event types, in the proportions they are generated.
 *
 * @since 0.1.0
 * @category constants
 */
export const eventTypes = [
  "LoanCreated",
  "LoanCreated",
  "CarCreated",
  "CarCreated",
  "LoanPaymentSubmitted",
  "LoanPaymentSubmitted",
  "LoanPaymentSubmitted",
  "ServiceScheduled",
  "ServiceCompleted"
] as const

/**
 * One `business_events` row.
 *
 * @since 0.1.0
 * @category models
 */
export interface BusinessEvent {
  readonly id: string
  readonly eventName: string
  readonly eventType: string
  readonly entityType: string
  readonly entityId: string
  /** Epoch milliseconds. */
  readonly createdAt: number
  readonly attributes: Record<string, unknown>
}

/**
 * Generator settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly seed: number
  readonly minBytes?: number
  readonly maxBytes?: number
  /** Epoch milliseconds of event 0; each next event is one second later. */
  readonly start?: number
}

const entityOf = (type: string): string =>
  type.startsWith("Loan") ? "Loan" : type.startsWith("Car") ? "Car" : "Service"

const body = (type: string, p: Prng.Prng, i: number): Record<string, unknown> => {
  switch (type) {
    case "LoanCreated":
      return {
        loan: {
          loanId: `loan-${i}`,
          loanAmount: p.int(5_000, 500_000),
          interestRate: p.int(200, 1500) / 100,
          termMonths: p.pick([12, 24, 36, 60, 72]),
          status: "active"
        },
        borrower: { name: `Borrower ${p.int(1, 9999)}`, creditScore: p.int(500, 850) }
      }
    case "CarCreated":
      return {
        car: {
          vin: `VIN${p.int(100000, 999999)}${i}`,
          make: p.pick(["Toyota", "Ford", "Honda", "Tesla", "BMW"]),
          model: p.pick(["Base", "Sport", "Touring"]),
          year: p.int(2005, 2026),
          price: p.int(8_000, 90_000)
        }
      }
    case "LoanPaymentSubmitted":
      return {
        payment: {
          paymentId: `pay-${i}`,
          loanId: `loan-${p.int(0, Math.max(0, i))}`,
          amount: p.int(100, 5_000),
          method: p.pick(["ACH", "CARD", "WIRE"])
        }
      }
    default:
      return {
        service: {
          serviceId: `svc-${i}`,
          carVin: `VIN${p.int(100000, 999999)}`,
          kind: p.pick(["oil-change", "tires", "inspection", "brakes"]),
          cost: p.int(50, 2_000)
        }
      }
  }
}

/**
 * Event `index` of the seed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const event = (options: Options, index: number): BusinessEvent => {
  const p = Prng.make(options.seed, index)
  const type = p.pick(eventTypes)
  const attributes = body(type, p, index)
  const min = options.minBytes ?? 400
  const max = Math.max(min, options.maxBytes ?? 65_536)
  // Log-uniform between the bounds: most events small, some large, as real traffic.
  const target = Math.round(Math.exp(Math.log(min) + p.next() * (Math.log(max) - Math.log(min))))
  const size = JSON.stringify(attributes).length
  const notes: Array<string> = []
  let padded = size + 12
  while (padded < target) {
    const note = `note ${notes.length} ${"x".repeat(Math.min(200, Math.max(1, target - padded - 10)))}`
    notes.push(note)
    padded += note.length + 3
  }
  return {
    id: `evt-${options.seed}-${index}`,
    eventName: type,
    eventType: type,
    entityType: entityOf(type),
    entityId: `${entityOf(type).toLowerCase()}-${options.seed}-${index}`,
    createdAt: (options.start ?? 1_767_225_600_000) + index * 1000,
    attributes: notes.length === 0 ? attributes : { ...attributes, notes }
  }
}
