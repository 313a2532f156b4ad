"""``uv run train-mcqa --config configs/mcqa_phi2_qdora.yaml [--option value …]``.

Thin on purpose, like TRL's scripts: the lifecycle lives in training.template, MCQA in mcqa.py.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from stemqa.train.mcqa import METHOD

    return METHOD.main(argv)


if __name__ == "__main__":
    sys.exit(main())
