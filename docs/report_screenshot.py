"""Screenshot of a report's Cover section (docs/report_cover.png), in Debian's headless Chromium.

    snakemake --report report.html            # after `make demo`
    .venv/bin/python docs/report_screenshot.py report.html docs/report_cover.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from report_browser import Report, missing, view  # noqa: E402


def main(html: str, out: str) -> None:
    why = missing()
    if why:
        sys.exit(why)
    with tempfile.TemporaryDirectory() as profile:
        r = Report(html, profile)
        try:
            r.click("Cover")
            r.click("Per site", then="cover_over_time")
            view(r, "results/plots/cover_over_time.png")
            r.screenshot(out)
        finally:
            r.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*(sys.argv[1:3] if len(sys.argv) >= 3 else ("report.html", "docs/report_cover.png")))
