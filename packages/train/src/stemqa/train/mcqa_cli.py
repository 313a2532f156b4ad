"""``uv run train-mcqa --config configs/mcqa_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: parsing lives in training.config, the work in mcqa.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.mcqa import parse_args, run_mcqa
    from stemqa.train.mcqa_data import MCQDataError
    from stemqa.train.training.script import run_script

    return run_script(parse_args, run_mcqa, (MCQDataError,), argv)


if __name__ == "__main__":
    sys.exit(main())
