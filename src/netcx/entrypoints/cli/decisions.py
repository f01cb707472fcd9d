"""CLI commands of the decisions area: `netcx policy check FILE`, `netcx triggers replay`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer

from netcx.errors import Unavailable


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    policy = typer.Typer(help="Decision policies.", no_args_is_help=True)
    triggers = typer.Typer(help="Trigger hand-off to CVM systems.", no_args_is_help=True)
    app.add_typer(policy, name="policy")
    app.add_typer(triggers, name="triggers")

    @policy.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="Policy YAML to validate.")],
    ) -> None:
        """Validate a policy file; a bad entry is named with its line (exit code 3)."""
        from netcx.services.decisions import load_policy_file

        loaded = load_policy_file(file)
        held = sum(1 for e in loaded.experiences if e.holdout_share > 0)
        typer.echo(
            f"{file}: ok — policy {loaded.name!r}, {len(loaded.experiences)} experiences "
            f"({held} with holdouts), {len(loaded.guards)} guards, universal control "
            f"{loaded.holdouts.universal_share:.1%}"
        )

    @triggers.command("replay")
    def replay(
        data: Annotated[
            Path | None, typer.Option(help="Data directory (default: storage.data_dir).")
        ] = None,
    ) -> None:
        """Redeliver every dead-lettered trigger through the configured sink; delivered ones
        leave the dead-letter store, failing ones stay (exit code 7)."""
        from netcx.bootstrap import build_dead_letters, build_replay_transport
        from netcx.config import load_settings
        from netcx.domain.decisions.triggers import Trigger

        settings = load_settings()
        if data is not None:
            settings.storage.data_dir = data
        letters = build_dead_letters(settings)
        transport = build_replay_transport(settings)
        decoder = msgspec.json.Decoder(Trigger)
        delivered, failed, malformed = 0, 0, 0
        try:
            for trigger_id, body in letters.list():
                try:
                    trigger = decoder.decode(body)
                except msgspec.DecodeError:  # a bus record that was no trigger: never sendable
                    malformed += 1
                    typer.echo(f"{trigger_id}: not a trigger, kept for inspection (delete it)")
                    continue
                try:
                    transport.deliver(body, trigger)
                except Exception as err:  # reported per trigger; the letter stays
                    failed += 1
                    typer.echo(f"{trigger_id}: still failing: {type(err).__name__}: {err}")
                else:
                    letters.remove(trigger_id)
                    delivered += 1
        finally:
            transport.close()
        typer.echo(f"replayed {delivered} trigger(s); {failed} still dead-lettered")
        if malformed:
            typer.echo(f"{malformed} malformed record(s) not replayed")
        if failed:
            raise Unavailable(f"{failed} trigger(s) could not be delivered; run replay again")
