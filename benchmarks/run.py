"""Run the benchmark set: ``--quick`` (what ``make bench`` runs, under 10 minutes on 2 cores)
or the full W1, W4, W3, W5 and W6 protocols."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = [
    ["benchmarks.w1_vae", "--quick"],
    ["benchmarks.w4_is_eval", "--quick"],
    ["benchmarks.w3_mdn", "--quick"],
    ["benchmarks.w5_seq_cvae", "--quick"],
    ["benchmarks.w6_dense_cvae", "--quick"],
]
FULL = [
    ["benchmarks.w1_vae"],
    ["benchmarks.w4_is_eval"],
    ["benchmarks.w3_mdn"],
    ["benchmarks.w5_seq_cvae"],
    ["benchmarks.w6_dense_cvae"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for module, *rest in QUICK if args.quick else FULL:
        print(f"== {module} {' '.join(rest)}", flush=True)
        code = subprocess.call([sys.executable, "-m", module, *rest], cwd=ROOT)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
