"""Master data management: one golden record with one stable code per real-world customer, product
and channel partner, whatever source it comes from.

    normalize / names / address   width, script, case; company names taken apart; phones (E.164);
                                  credit codes (USCC); addresses → province / city / district → region
    features                      profiles: a canonical record → the features its rules compare
    rules (rules/<entity>.yaml)   comparisons, weights, vetoes, blocking, thresholds, survivorship,
                                  code templates, data-quality checks
    blocking / compare / cluster  candidate pairs, vectorised scores (rapidfuzz), clusters that do not chain
    engine / index                batch matching of a file or the store; in-memory one-record matching
    store / steward               golden records, cross-reference, codes, incremental matching;
                                  merge / reject / unmerge / review queue with audit rows
    events                        mdm.<entity>.upserted|merged|unmerged|code_assigned.v1

This package imports the kernel (hub.core) only; hub.app wires it to the bus and the CLI.
"""
