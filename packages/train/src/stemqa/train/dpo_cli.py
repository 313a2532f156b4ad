"""``uv run train-dpo --config configs/dpo_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: parsing lives in training.config, the work in dpo.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.dpo import parse_args, run_dpo
    from stemqa.train.dpo_data import PreferenceDataError
    from stemqa.train.training.script import run_script

    return run_script(parse_args, run_dpo, (PreferenceDataError,), argv)


if __name__ == "__main__":
    sys.exit(main())
