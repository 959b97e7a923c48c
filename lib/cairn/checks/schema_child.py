"""The child process of `cairn.checks.timebox.in_child`: a project schema's check run where
it can be killed at its time budget. A request (JSON) on stdin, the problems (a JSON list)
on stdout. Its own module so that the time box never imports the check it bounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cairn.checks.schema import check_with_jsonschema


def main() -> None:
    request = json.loads(sys.stdin.read())
    found = check_with_jsonschema(Path(request["schema"]), request["data"], limit=int(request["limit"]))
    print(json.dumps(found if found is not None else ["$: jsonschema is not importable in the child process"]))


if __name__ == "__main__":
    main()
