"""One flag vocabulary for every stemqa command: TRL's snake_case names.

The training commands parse with TRL's parser (``--model_name_or_path``, ``--dataset_name``,
``--output_dir``, ``--per_device_train_batch_size``), which also accepts each flag with dashes.
Every other command uses this parser so that the same concept has the same flag everywhere,
spelled the same way, with the same dashed alias; a flag that was renamed fails with one line
naming its new name instead of argparse's "unrecognized arguments" (or, worse, a silent prefix
match: ``allow_abbrev`` is off, so ``--model`` never means ``--model_name_or_path``).

Shared concept flags (see docs/ARCHITECTURE.md, "Flag vocabulary"):
``--model_name_or_path``, ``--adapter``, ``--quantization``, ``--dataset_name``, ``--index``,
``--mode``, ``--k``, ``--batch_size``, ``--max_new_tokens``, ``--output_dir`` (a folder) /
``--output_path`` (a file), ``--dry_run``, ``--repo_id``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn


def dash_aliases(names: Sequence[str]) -> list[str]:
    """``--batch_size`` → ``--batch_size --batch-size``, as TRL's HfArgumentParser does."""
    out = list(names)
    for name in names:
        if name.startswith("--") and "_" in name:
            alias = "--" + name[2:].replace("_", "-")
            if alias not in out:
                out.append(alias)
    return out


class _Group(argparse._ArgumentGroup):
    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        return super().add_argument(*dash_aliases(names), **kwargs)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with TRL-style flag aliases, no prefix matching, and renamed-flag messages.

    ``renamed`` maps an old flag to its new name (``{"--model": "--model_name_or_path"}``).
    """

    def __init__(self, *args: Any, renamed: Mapping[str, str] | None = None, **kwargs: Any):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        return super().add_argument(*dash_aliases(names), **kwargs)

    def add_argument_group(self, *args: Any, **kwargs: Any) -> argparse._ArgumentGroup:
        group = _Group(self, *args, **kwargs)
        self._action_groups.append(group)
        return group

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None):
        argv = list(sys.argv[1:] if args is None else args)
        for token in argv:
            if token == "--":
                break
            flag = token.split("=", 1)[0]
            if flag in self.renamed:
                self.fail(f"{flag} was renamed to {self.renamed[flag]}; use {self.renamed[flag]}")
        return super().parse_known_args(argv, namespace)

    def fail(self, message: str) -> NoReturn:
        """One line on stderr and exit 2: a user's mistake, not a traceback."""
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)
