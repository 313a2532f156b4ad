"""The uv workspace and its lock, read as data.

Why read uv.lock ourselves: the Space must install exactly what the workspace was tested with,
and the deploy command has to prove it (requirements consistent with the lock) without asking
the network. `tomllib` is enough; uv itself is only run for what it alone can do (export, build).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

SPACE_PACKAGE = "stemqa-space"


class WorkspaceError(RuntimeError):
    """The workspace or its lock is missing or unreadable; the message says where and what to do."""


@dataclass(frozen=True)
class LockedPackage:
    name: str
    versions: tuple[
        str, ...
    ]  # several only when markers split the resolution (numpy on 3.11 vs 3.12)
    dependencies: tuple[str, ...]
    member_path: str | None = None  # workspace members: folder relative to the root


@dataclass(frozen=True)
class Lock:
    path: Path
    requires_python: str
    packages: dict[str, LockedPackage] = field(default_factory=dict)

    @property
    def members(self) -> dict[str, LockedPackage]:
        return {n: p for n, p in self.packages.items() if p.member_path is not None}

    def version_of(self, name: str) -> tuple[str, ...]:
        package = self.packages.get(canonicalize_name(name))
        return package.versions if package else ()

    def member_closure(self, root_package: str = SPACE_PACKAGE) -> list[str]:
        """Workspace members `root_package` needs at run time, itself included, sorted.

        These are the packages the Space gets as wheels: PyPI cannot serve them.
        """
        name = canonicalize_name(root_package)
        if name not in self.members:
            raise WorkspaceError(
                f"{root_package} is not a member of the workspace in {self.path.parent}"
            )
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(d for d in self.packages[current].dependencies if d in self.members)
        return sorted(seen)


def find_workspace_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding uv.lock and a [tool.uv.workspace] table."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if (folder / "uv.lock").is_file() and pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError:
                continue
            if "workspace" in data.get("tool", {}).get("uv", {}):
                return folder
    raise WorkspaceError(
        f"No uv workspace (pyproject.toml with [tool.uv.workspace] next to uv.lock) at or above "
        f"{start}. Run deploy-space from the stemqa checkout or pass --workspace PATH."
    )


def read_lock(root: Path) -> Lock:
    path = root / "uv.lock"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"{path} is missing: run `uv lock` in {root}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(
            f"{path} is not valid TOML ({exc}): run `uv lock` to rewrite it"
        ) from None

    packages: dict[str, LockedPackage] = {}
    for entry in data.get("package", []):
        name = canonicalize_name(entry["name"])
        source = entry.get("source", {})
        member_path = source.get("editable") or source.get("virtual")
        deps = tuple(canonicalize_name(d["name"]) for d in entry.get("dependencies", []))
        version = str(entry.get("version", ""))
        if name in packages:  # a marker fork: same name, another version
            old = packages[name]
            packages[name] = LockedPackage(
                name,
                tuple(sorted({*old.versions, version})),
                tuple(sorted({*old.dependencies, *deps})),
                old.member_path or member_path,
            )
        else:
            packages[name] = LockedPackage(name, (version,), deps, member_path)
    return Lock(path=path, requires_python=str(data.get("requires-python", "")), packages=packages)
