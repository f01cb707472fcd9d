"""`/dashboard`: the report's figures for the newest run the server can see, re-read on change.

Source: the newest run directory with a report.json under `measurement.runs_dir`
(NETCX_MEASUREMENT__RUNS_DIR; default `<storage.data_dir>/runs`; it may also be one run
directory). `netcx run` and `netcx report` write there; the page re-reads report.json whenever
its modification time changes and reloads itself every minute.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container
from netcx.services.report import REPORT_JSON, latest_run_with_report, read_report
from netcx.services.report_page import render_report_html

REFRESH_S = 60


def runs_dir(container: Container) -> Path:
    settings = container.settings
    return settings.measurement.runs_dir or settings.storage.data_dir / "runs"


class _Dashboard:
    """Renders the newest report once per change of its report.json."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._cache: tuple[Path, int, str] | None = None

    def _newest(self) -> tuple[Path, int] | None:
        run = latest_run_with_report(self.source)
        if run is None:
            return None
        return run, (run / REPORT_JSON).stat().st_mtime_ns

    def page(self) -> tuple[int, str]:
        newest = self._newest()
        if newest is None:
            return 404, (
                "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<meta http-equiv='refresh' content='{REFRESH_S}'><title>netcx dashboard</title>"
                "</head><body><h1>netcx dashboard</h1><p>No measured run yet under "
                f"{html.escape(str(self.source))}: run <code>netcx run</code> or "
                "<code>netcx report --run DIR</code> with its output there.</p></body></html>"
            )
        run, mtime = newest
        if self._cache is None or self._cache[:2] != (run, mtime):
            page = render_report_html(
                read_report(run), refresh_s=REFRESH_S, source=str(run / REPORT_JSON)
            )
            self._cache = (run, mtime, page)
        return 200, self._cache[2]

    def report(self) -> tuple[int, dict[str, object]]:
        newest = self._newest()
        if newest is None:
            return 404, {"error": f"no measured run under {self.source}"}
        return 200, {"source": str(newest[0] / REPORT_JSON), "report": read_report(newest[0])}


def routes(container: Container) -> list[BaseRoute]:
    """The dashboard page and its JSON."""
    dashboard = _Dashboard(runs_dir(container))

    async def page(_: Request) -> Response:
        status, body = await run_in_threadpool(dashboard.page)
        return HTMLResponse(body, status_code=status)

    async def report_json(_: Request) -> Response:
        status, body = await run_in_threadpool(dashboard.report)
        return JSONResponse(body, status_code=status)

    return [Route("/dashboard", page), Route("/dashboard/report.json", report_json)]
