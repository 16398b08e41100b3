"""Rebuild queries.yaml from a checkout of Microsoft's published hunting queries.

    python tests/corpus/collect.py /path/to/Microsoft-365-Defender-Hunting-Queries

Every query is Microsoft's text, unchanged. A file holding several queries (separated by a
blank line, as the portal's editor separates them) gives one entry each. Entries that are not a
query Defender runs today are kept with an `excluded` reason, so the selection can be checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from bot.defender.lab.kql_text import mask
from bot.defender.lab.schema import load_schema

REPOSITORY = "microsoft/Microsoft-365-Defender-Hunting-Queries"
HERE = Path(__file__).parent
# Tables of the 2019 schema, renamed in 2020; Defender no longer documents them.
RENAMED = {
    "ProcessCreationEvents",
    "NetworkCommunicationEvents",
    "FileCreationEvents",
    "MiscEvents",
    "LogonEvents",
    "RegistryEvents",
    "ImageLoadEvents",
    "MachineInfo",
    "MachineNetworkInfo",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def blocks(path: str, text: str) -> list[str]:
    if path.endswith(".md"):
        return [b.strip() for b in re.findall(r"```[A-Za-z]*\n(.*?)```", text, re.S)]
    return [text.strip()]


def split_queries(block: str) -> list[str]:
    """Queries separated by blank lines; a chunk that continues the one before stays with it."""
    chunks = [c for c in re.split(r"\n[ \t]*\n", block) if c.strip()]
    queries: list[str] = []
    for chunk in chunks:
        code = mask(chunk).strip()
        if queries and (not code or _continues(queries[-1], code)):
            queries[-1] += "\n\n" + chunk
        else:
            queries.append(chunk)
    return [q.strip() for q in queries]


def _continues(before: str, code: str) -> bool:
    masked = mask(before).rstrip()
    if not masked.strip():
        return True  # only comments so far
    if masked.count("(") != masked.count(")") or masked.count("{") != masked.count("}"):
        return True
    if masked.endswith((";", "|", ",", "(", "=")) or code.startswith(
        ("|", ")", ",", "and ", "or ")
    ):
        return True
    last = masked.rsplit(";", 1)[-1].strip()
    return not last or last.startswith("let ")


def exclusion(query: str, tables: set[str]) -> str | None:
    code = mask(query)
    words = set(re.findall(r"\b[A-Za-z]\w*\b", code))
    if re.search(r"^\s*#", code, re.M):
        return "prose, not KQL (a line starting with #)"
    if words & RENAMED:
        return f"reads {', '.join(sorted(words & RENAMED))}, renamed in Defender's 2020 schema"
    if not words & tables:
        return "reads no Defender table"
    if re.search(r"<[A-Za-z ]+>", code):
        return "a template with placeholders to fill in"
    return None


def main(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD").strip()
    tables = set(load_schema())
    entries = []
    for path in sorted(git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines()):
        if not path.endswith((".md", ".txt", ".csl")) or "/" not in path:
            continue
        if path.startswith("Webcasts/"):
            continue  # slides and notebooks, not queries
        for b, block in enumerate(blocks(path, git(repo, "show", f"HEAD:{path}"))):
            for p, query in enumerate(split_queries(block)):
                entry = {"id": f"{path}#{b}.{p}", "path": path, "query": query}
                reason = exclusion(query, tables)
                if reason:
                    entry["excluded"] = reason
                entries.append(entry)
    document = {
        "source": {
            "repository": f"https://github.com/{REPOSITORY}",
            "commit": commit,
            "license": "MIT (see README.md)",
        },
        "queries": entries,
    }
    (HERE / "queries.yaml").write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    kept = sum(1 for e in entries if "excluded" not in e)
    print(f"{len(entries)} queries, {kept} kept")


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


yaml.SafeDumper.add_representer(str, _literal)

if __name__ == "__main__":
    main(Path(sys.argv[1]))
