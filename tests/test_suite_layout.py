"""The suite's own rule: a test module never imports `conftest`. Two files have that name
(tests/ and tests/e2e/); which one `import conftest` finds depends on what was collected
first, so such an import passes alone and breaks the whole run. Helpers live in
tests/support.py (or a test_*_support module)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_conftest() -> None:
    found = [f"{p.relative_to(TESTS)}:{n}" for p in sorted(TESTS.rglob("*.py")) if p.name != "conftest.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.match(r"\s*(from conftest import|import conftest\b)", line)]
    assert found == [], f"import from support.py instead: {found}"
