"""Print how two uv.lock files differ, package by package: `lock_diff.py OLD NEW`.

`make test-latest` uses it to show which packages the newest versions pyproject.toml allows
differ from the committed lock, before running the suite on them. Standard library only.
"""

import sys
import tomllib


def locked_versions(path: str) -> dict[str, str]:
    with open(path, "rb") as file:
        lock = tomllib.load(file)
    # A package locked twice (different versions for different markers) shows both.
    versions: dict[str, list[str]] = {}
    for package in lock["package"]:
        versions.setdefault(package["name"], []).append(package.get("version", "?"))
    return {name: " | ".join(sorted(found)) for name, found in versions.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    old, new = locked_versions(argv[1]), locked_versions(argv[2])
    changed = [
        (name, old.get(name, "-"), new.get(name, "-"))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    if not changed:
        print(f"{argv[2]} locks the same versions as {argv[1]}")
        return 0
    width = max(len(name) for name, _, _ in changed)
    print(f"{len(changed)} packages differ from {argv[1]} ('-' = absent):")
    for name, before, after in changed:
        print(f"  {name:<{width}}  {before} -> {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
