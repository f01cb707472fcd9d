"""The whole batch pipeline over a world: resolve → identity → intents → decide → outcomes → report.

Stage contracts (columns in `netcx.tables`), each implemented in its own service module:

- `BatchResolver.resolve_hits(hits) -> RESOLVED_HITS`            (port; adapter built in bootstrap)
- `identity.build_session_identity(hits, resolved, pseudonymizer) -> SESSION_IDENTITY`
- `intents.detect_session_intents(hits) -> SESSION_INTENTS`
- `churn.evaluate_churn_on_world(world, intents, identity, pseudonymizer) -> dict[str, float]`
- `decisions.decide_sessions(identity, intents, world, settings, pseudonymizer) -> DECISIONS`
- `World.outcomes_under(decisions) -> {name: table}`              (closed loop of the simulator)
- `report.build_report(world, run_dir, pseudonymizer, extra) -> dict`; `report.write_report(...)`
"""
