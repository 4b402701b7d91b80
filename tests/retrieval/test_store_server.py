"""A real Milvus standalone server, reachable on loopback only: the cases in
store_server_cases.py run in a fresh network namespace whose one interface is `lo` (Milvus
2.3.5 listens on all interfaces and has no option to bind one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).with_name("store_server_cases.py")


def test_store_against_a_real_milvus_server_on_loopback_only():
    inner = f"ip link set lo up && {sys.executable} -m pytest -q -p no:cacheprovider {CASES}"
    probe = "ip -o link show | grep -vc ': lo:'"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", f"{probe}; {inner}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    other_interfaces, _, report = done.stdout.partition("\n")
    assert other_interfaces.strip() == "0", done.stdout  # nothing but loopback in there
    assert done.returncode == 0, report[-3000:] + done.stderr[-2000:]
    assert "5 passed" in report
