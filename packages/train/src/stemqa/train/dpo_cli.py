"""``uv run train-dpo --config configs/dpo_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: parsing lives in training.config, the work in dpo.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.dpo import parse_args, run_dpo

    script_args, training_args, model_args = parse_args(argv)
    try:
        run_dpo(script_args, training_args, model_args)
    except (ValueError, RuntimeError, OSError) as exc:
        from stemqa.core.loading import ModelLoadError
        from stemqa.train.dpo_data import PreferenceDataError

        if isinstance(exc, ModelLoadError | PreferenceDataError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
