"""Print pip constraints pinning every runtime dependency to its declared floor (``>=X`` -> ``==X``).

``make test-lowest`` installs the package with these constraints on the lowest Python the
package allows and runs a smoke subset of the suite, so the floors in pyproject.toml are
versions the code has really run with, not guesses.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the floor is read with a tiny parser of the one list we need
    tomllib = None


def dependencies(pyproject: Path) -> list[str]:
    text = pyproject.read_text()
    if tomllib is not None:
        return list(tomllib.loads(text)["project"]["dependencies"])
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
    assert block, "no [project] dependencies list in pyproject.toml"
    return re.findall(r'"([^"]+)"', block.group(1))


def main() -> None:
    for requirement in dependencies(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")):
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        floor = re.search(r"(?:>=|==)\s*([0-9][^,;\s]*)", requirement)
        if floor:
            print(f"{name}=={floor.group(1)}")


if __name__ == "__main__":
    main()
