"""``uv run train-mcqa --config configs/mcqa_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: parsing lives in training.config, the work in mcqa.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.mcqa import parse_args, run_mcqa

    script_args, training_args, model_args = parse_args(argv)
    try:
        run_mcqa(script_args, training_args, model_args)
    except (ValueError, RuntimeError, OSError) as exc:
        from stemqa.core.loading import ModelLoadError
        from stemqa.train.mcqa_data import MCQDataError

        if isinstance(exc, ModelLoadError | MCQDataError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
