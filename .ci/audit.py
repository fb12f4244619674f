#!/usr/bin/env python3
"""Known vulnerabilities of the locked dependency set, from the package index alone.

    python3 .ci/audit.py requirements.lock [--strict] [--index-url URL]

Why not pip-audit: its PyPI source asks `/pypi/<name>/<version>/json` for each package, and its
OSV source asks api.osv.dev. On machines that reach only the package index (this project's CI),
the first answers 404 and the second does not resolve; pip-audit then skips every package and
still prints "No known vulnerabilities found". This script asks the same PyPI JSON API (PyPI
fills its `vulnerabilities` from the OSV database) and never passes by skipping:

- the per-version document when the index serves it (what pip-audit reads);
- otherwise the project document, whose advisories are those of the latest release: exact when
  the locked version IS the latest; a locked version behind the latest is reported as NOT
  CHECKED (a fix usually ships in a newer release: re-lock to audit it), a failure with --strict;
- any other answer (network error, 5xx) is a failure: an audit that could not run says so.

Exit 1 on any known, not withdrawn, vulnerability of a locked version (or, with --strict, on any
package not checked); exit 2 when the index could not be asked. Standard library only, so it
runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


@dataclass
class Result:
    name: str
    version: str
    status: str  # "ok", "vulnerable", "not checked", "error"
    detail: str = ""
    advisories: list[str] = field(default_factory=list)


def pins(lock_text: str) -> list[tuple[str, str]]:
    """`name==version` lines of a pip/uv lock file (hash and comment lines skipped)."""
    found = []
    for line in lock_text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def _get(url: str, timeout: float) -> dict | None:
    """The JSON document, or None for 404; other failures raise."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _advisories(document: dict) -> list[str]:
    return [
        f"{v.get('id')} (fixed in {', '.join(v.get('fixed_in') or []) or 'no release yet'})"
        for v in document.get("vulnerabilities") or []
        if not v.get("withdrawn")
    ]


def check(name: str, version: str, index_url: str, timeout: float = 30.0) -> Result:
    base = index_url.rstrip("/")
    try:
        document = _get(f"{base}/{name}/{version}/json", timeout)
        if document is None:
            document = _get(f"{base}/{name}/json", timeout)
            if document is None:
                return Result(name, version, "error", "the index does not know this package")
            latest = document.get("info", {}).get("version")
            if latest != version:
                return Result(
                    name, version, "not checked", f"the index's advisories are for {latest}"
                )
    except (OSError, ValueError) as exc:  # URLError, timeouts, bad JSON
        return Result(name, version, "error", f"{type(exc).__name__}: {exc}")
    found = _advisories(document)
    return Result(name, version, "vulnerable" if found else "ok", advisories=found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lock", help="requirements.lock (name==version lines with hashes)")
    parser.add_argument("--strict", action="store_true", help="fail on packages not checked")
    parser.add_argument("--index-url", default="https://pypi.org/pypi", help="PyPI JSON API")
    args = parser.parse_args(argv)
    with open(args.lock, encoding="utf-8") as f:
        locked = pins(f.read())
    if not locked:
        print(f"audit: no name==version pins in {args.lock}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda p: check(p[0], p[1], args.index_url), locked))
    for r in results:
        if r.status != "ok":
            detail = r.detail or "; ".join(r.advisories)
            print(f"{r.status.upper():12} {r.name}=={r.version}: {detail}")
    counts = {
        s: sum(r.status == s for r in results) for s in ("ok", "vulnerable", "not checked", "error")
    }
    print(
        f"audit: {len(results)} locked packages: {counts['ok']} without known vulnerabilities, "
        f"{counts['vulnerable']} vulnerable, {counts['not checked']} not checked, "
        f"{counts['error']} could not be asked"
    )
    if counts["error"]:
        return 2
    if counts["vulnerable"] or (args.strict and counts["not checked"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
