"""Lazy package exports (PEP 562), shared by stemqa.core and stemqa.rag.

Both packages keep `import stemqa.<pkg>` light: a public name is imported from its submodule the
first time it is asked for, so a BM25 query never pays for torch because the package root
happens to re-export `load_model` or the embedder.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level `__getattr__` and `__dir__` for `package`, resolving `exports` on demand.

    `exports` maps each public name to the submodule of `package` that defines it. A resolved
    name is stored in the package's globals, so later lookups skip `__getattr__`.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
