"""The commands ``benchmarks/run_all.py`` re-makes the docs' figures with.

``run_all.py`` checks the commands it is asked to run before it runs them, but only
those, and only when someone runs it: a script's option renamed, or a default changed
under a command that relied on it, breaks the reproduction of a results file silently
until then. This checks every registered command against its script's own parser.
"""

import dataclasses
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def run_all(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import run_all

    yield run_all
    # (the scripts' own modules only: the libraries they import stay imported)
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").parent == BENCHMARKS:
            del sys.modules[name]


def test_every_registered_command_parses(run_all, capsys):
    refused = run_all.validate(run_all.BENCHMARKS)
    assert refused == [], capsys.readouterr().err


def test_a_refused_command_is_reported(run_all, capsys):
    # The check above can fail: a command with an option its script does not have.
    good = run_all.BY_NAME["compare_digits"]
    bad = dataclasses.replace(good, name="broken", args=good.args + ("--no-such-option",))
    assert run_all.validate([bad]) == ["broken"]
    assert "--no-such-option" in capsys.readouterr().err
