"""The app's Run, timed in a real browser: the default scenario, its four strategies, 1,000 deploys each.

Starts `streamlit run app.py`, opens it in headless Chromium (as the browser test does), sets the deploys,
clicks Run and times until the first chart is on screen; the success line gives the simulation's own
time. The page had been open for a few seconds before the click, as it would be for a user choosing
settings (its worker processes start then). Ends with one JSON line of the figures.
Usage: python bench/app.py [--deploys N]   (needs the dev extra and /usr/bin/chromium: `make bench-app`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_app_browser import chromium, drive, server  # noqa: E402  (the browser test's helpers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=1000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(Path(tmp) / "streamlit.log") as url,
        chromium() as browser,
    ):
        result = drive(browser, url, args.deploys, Path(tmp) / "shot.png", settle_s=5.0)
    simulated = float(re.search(r"simulated in ([0-9.]+) s", result["success"]).group(1))
    print(f"app, default scenario, {args.deploys:,} deploys × 4 strategies on {os.cpu_count()} cores:")
    print(f"  Run clicked → first chart on screen  {result['seconds']:.1f} s")
    print(f"  of which the batch itself             {simulated:.1f} s")
    figures = {"deploys": args.deploys, "click_to_chart_s": round(result["seconds"], 1), "batch_s": simulated}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
