"""``uv run train-orpo --config configs/orpo_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: the lifecycle lives in training.template, ORPO in orpo.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.orpo import METHOD

    return METHOD.main(argv)


if __name__ == "__main__":
    sys.exit(main())
