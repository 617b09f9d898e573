"""The console's front end is served from this package, with nothing from a CDN."""

from __future__ import annotations

import json
import re

import httpx

from app.console.routes import STATIC


def test_the_vendored_libraries_are_the_versions_the_lock_pins() -> None:
    lock = json.loads((STATIC / "vendor" / "package-lock.json").read_text())

    def pinned(package: str) -> str:
        version: str = lock["packages"][f"node_modules/{package}"]["version"]
        return version

    vendored = (STATIC / "vendor" / "echarts.min.js").read_text()
    assert f'version="{pinned("echarts")}"' in vendored
    for package, name in (("react", "react"), ("react-dom", "react-dom")):
        script = (STATIC / "vendor" / "graphiql" / f"{name}.production.min.js").read_text()
        assert f'version="{pinned(package)}' in script.replace(":", "=")
    assert (STATIC / "vendor" / "graphiql" / "graphiql.min.js").stat().st_size > 0


def test_no_page_or_script_loads_anything_from_another_origin() -> None:
    for path in STATIC.rglob("*"):
        if path.suffix in {".html", ".js", ".css"} and "vendor" not in path.parts:
            text = path.read_text()
            assert not re.search(r"(src|href)=\\S*https?://", text), path
            assert "cdn" not in text.lower(), path


async def test_the_console_page_is_served_with_a_strict_policy(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/console")
    assert page.status_code == 200 and "运营后台" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    script = await browser.get("/console/static/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    widget = await browser.get("/widgets/live.js")
    assert widget.headers["access-control-allow-origin"] == "*"


def test_the_leaderboard_widget_with_its_client_is_small() -> None:
    import gzip

    widget = b"".join(
        (STATIC / "widgets" / name).read_bytes()
        for name in ("leaderboard.js", "widget.js", "live.js")
    )
    assert len(gzip.compress(widget, 9)) <= 30 * 1024
