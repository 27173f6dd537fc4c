"""The integration hub's own code, in two layers whose imports point down only.

    hub.app    wiring: sync pipeline, CLI, demo, consumers' handlers (ERP commands, MDM intake)
               may import connectors, mappings, mdm and hub.core
    hub.core   kernel: settings, errors, events, schemas, topology, publisher, consumer, outbox,
               dead letters, checkpoints (state), database and migrations
               imports nothing above it (no connectors, mappings, mdm or hub.app)

Domain packages beside `hub` (connectors, mappings, mdm) import only hub.core.
"""
