"""CLI of the privacy area: consent set/revoke/show, subject export/erase, retention purge,
identity load-crm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.errors import InvalidInput, NotFound
from netcx.services.identity import IdentityService

DataOption = Annotated[
    Path | None,
    typer.Option(help="Embedded store directory (default: storage.data_dir from settings)."),
]
SubjectArg = Annotated[
    str, typer.Argument(help="A pseudonym (vi1_…) or kind:id (visitor:abc, subscriber:S1).")
]
PurposeArg = Annotated[
    str, typer.Argument(help="analytics | personalisation | marketing | number-verification")
]
CALLER = "cli"


def _service(data: Path | None) -> IdentityService:
    overrides: dict[str, Any] = {} if data is None else {"storage": {"data_dir": data}}
    settings = load_settings(**overrides)
    return build_container(settings).identity


def _print(value: Any) -> None:
    typer.echo(json.dumps(msgspec.to_builtins(value), indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    """Add `consent`, `subject` and `retention` command groups to the main app."""
    consent = typer.Typer(help="Record and read consent per subject and purpose.")
    subject = typer.Typer(help="Data-subject rights: export (Art. 15/20) and erasure (Art. 17).")
    retention = typer.Typer(help="Delete what is past its retention period.")
    identity = typer.Typer(help="The identity graph.")
    app.add_typer(consent, name="consent")
    app.add_typer(subject, name="subject")
    app.add_typer(retention, name="retention")
    app.add_typer(identity, name="identity")

    @consent.command("set")
    def consent_set(
        subject_ref: SubjectArg,
        purpose: PurposeArg,
        text_version: Annotated[str, typer.Option(help="Consent text the subject saw.")],
        source: Annotated[str, typer.Option(help="Where it was given.")] = "cli",
        data: DataOption = None,
    ) -> None:
        """Record a grant."""
        svc = _service(data)
        _print(svc.set_consent(subject_ref, purpose, True, source, text_version, CALLER))

    @consent.command("revoke")
    def consent_revoke(
        subject_ref: SubjectArg,
        purpose: PurposeArg,
        source: Annotated[str, typer.Option(help="Where it was revoked.")] = "cli",
        text_version: Annotated[str, typer.Option(help="Consent text version.")] = "revocation",
        data: DataOption = None,
    ) -> None:
        """Record a revocation (in force at once)."""
        svc = _service(data)
        _print(svc.set_consent(subject_ref, purpose, False, source, text_version, CALLER))

    @consent.command("show")
    def consent_show(subject_ref: SubjectArg, data: DataOption = None) -> None:
        """The decision in force per purpose, and the history."""
        _print(_service(data).consent_view(subject_ref))

    @subject.command("export")
    def subject_export(
        subject_ref: SubjectArg,
        out: Annotated[Path | None, typer.Option(help="Write JSON here (default stdout).")] = None,
        data: DataOption = None,
    ) -> None:
        """Everything held about a subject, as JSON."""
        exported = _service(data).export(subject_ref, CALLER)
        if out is None:
            _print(exported)
        else:
            out.write_text(json.dumps(exported, indent=2, sort_keys=True), encoding="utf-8")
            typer.echo(f"wrote {out}")

    @subject.command("erase")
    def subject_erase(
        subject_ref: SubjectArg,
        yes: Annotated[bool, typer.Option("--yes", help="Confirm the erasure.")] = False,
        data: DataOption = None,
    ) -> None:
        """Erase a subject from every store; prints the erasure receipt."""
        if not yes:
            typer.echo("refusing to erase without --yes", err=True)
            raise typer.Exit(2)
        _print(_service(data).erase(subject_ref, CALLER))

    @identity.command("load-crm")
    def identity_load_crm(
        lines: Annotated[Path, typer.Argument(help="A Parquet file with the crm/lines columns.")],
        data: DataOption = None,
    ) -> None:
        """Load CRM links (line → subscriber → household → account) into the graph."""
        if not lines.is_file():
            raise NotFound(f"{lines}: no such file")
        try:
            table = pq.read_table(lines)
        except (OSError, pa.ArrowInvalid) as err:
            raise InvalidInput(f"{lines}: not a readable Parquet file: {err}") from err
        typer.echo(f"wrote {_service(data).load_crm(table)} CRM edges")

    @retention.command("purge")
    def retention_purge(data: DataOption = None) -> None:
        """Delete data past its retention period, per data kind; prints counts."""
        _print(_service(data).purge_retention(CALLER))
