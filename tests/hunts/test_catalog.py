"""Loading hunt files: built-ins, HUNTS_DIR additions and overrides, and invalid files isolated."""

from pathlib import Path

import pytest

from bot.errors import UnknownHunt
from bot.hunts.catalog import builtin_dir, load_catalog

FILES = Path(__file__).parent / "files"


@pytest.fixture(scope="module")
def invalid_catalog():
    return load_catalog(FILES / "invalid")


def problem(catalog, stem):
    found = [p for p in catalog.problems if Path(p.path).stem == stem]
    assert len(found) == 1, f"expected one problem for {stem}, got {catalog.problems}"
    return found[0]


def test_hunts_dir_adds_hunts_and_overrides_builtins_by_name():
    catalog = load_catalog(FILES / "valid")
    assert catalog.problems == []
    added = catalog.entries["recent-logons"]
    assert not added.builtin and not added.overrides_builtin
    override = catalog.entries["spam-emails"]
    assert override.overrides_builtin
    assert catalog.get("spam-emails").title.endswith("(site override)")
    # The other built-ins are still there.
    assert "zap-misses" in catalog.entries


@pytest.mark.parametrize(
    ("stem", "field", "says"),
    [
        ("not-yaml", "line 3", "not valid YAML"),
        ("no-title", "title", "is required"),
        ("unused-param", "parameters", "declared but not used by the query: lookback"),
        ("undeclared-param", "query", "uses `lookbak`, which is neither a declared parameter"),
        ("bad-type", "parameters.address.type", "timespan"),
        ("bad-default", "parameters.lookback", "default 'a week' is not valid"),
        ("bad-column", "columns", "`Subject` is not returned by the query"),
        ("bad-entities", "entities.email", "NetworkMessageId and RecipientEmailAddress"),
        ("unknown-table", "query", "EmailEvent, which is not a table"),
        ("syntax-error", "query", "is not valid KQL"),
        ("duplicate-b", "name", "already defined by duplicate-a.yaml"),
    ],
)
def test_each_invalid_file_is_reported_with_its_path_and_field(invalid_catalog, stem, field, says):
    found = problem(invalid_catalog, stem)
    assert found.path.endswith(f"{stem}.yaml")
    assert found.field == field
    assert says in found.detail


def test_invalid_files_never_take_the_others_down(invalid_catalog):
    assert "twin" in invalid_catalog.entries  # the first of the two survives
    builtins = {p.stem for p in builtin_dir().glob("*.yaml")}
    assert builtins <= set(invalid_catalog.entries)


def test_builtins_are_all_valid_and_at_least_nine():
    # The full check, schema binding included, as every HUNTS_DIR file gets.
    catalog = load_catalog(check_builtins=True)
    assert catalog.problems == []
    assert catalog.lab_gaps == {}
    assert len(catalog) >= 9
    for name in ("zap-misses", "spam-emails", "emails-by-subject", "emails-from"):
        assert name in catalog.entries


def test_builtin_names_match_their_files():
    for entry in load_catalog().entries.values():
        assert entry.path.stem == entry.hunt.name


def test_unknown_hunt_suggests_close_names():
    catalog = load_catalog()
    with pytest.raises(UnknownHunt, match="no hunt called `zap-miss`") as caught:
        catalog.get("zap-miss")
    assert "zap-misses" in caught.value.hint
