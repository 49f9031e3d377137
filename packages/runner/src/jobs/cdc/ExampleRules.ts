/**
 * The example rule file of seed 003 (also `examples/cdc-rules.yaml`): the
 * seed's four consumer topics, first match wins, records no rule matches
 * kept on `unmatched-business-events`. Each rule first asks for a created
 * or snapshot row (`op`), so deletes and truncates, whose `after` is null,
 * are never evaluated against a missing row. `car-created` uses the flat
 * model, the others the nested one.
 *
 * @since 0.1.0
 */

/**
 * The example rules, as YAML text.
 *
 * @since 0.1.0
 * @category constants
 */
export const text = `# Routing rules for the business events of seed 003 (sluice cdc route --rules <this file>).
mode: first-match
default: unmatched-business-events
rules:
  - name: loan-created
    when: op in ["c", "r"] && source.table == "business_events" && after.event_type == "LoanCreated"
    to: filtered-loan-created-events
    model: nested
  - name: car-created
    when: op in ["c", "r"] && source.table == "business_events" && after.event_type == "CarCreated"
    to: filtered-car-created-events
    model: flat
  - name: loan-payment-submitted
    when: op in ["c", "r"] && source.table == "business_events" && after.event_type == "LoanPaymentSubmitted"
    to: filtered-loan-payment-submitted-events
    model: nested
  - name: service-events
    when: op in ["c", "r"] && source.table == "business_events" && after.entity_type == "Service"
    to: filtered-service-events
    model: nested
`

/**
 * The topics the example rules write to, the default topic last.
 *
 * @since 0.1.0
 * @category constants
 */
export const topics: ReadonlyArray<string> = [
  "filtered-loan-created-events",
  "filtered-car-created-events",
  "filtered-loan-payment-submitted-events",
  "filtered-service-events",
  "unmatched-business-events"
]
