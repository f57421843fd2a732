"""The command-line tools' help: the program name the user typed, every option explained with its
default, plain text (no reST markup)."""

from __future__ import annotations

import argparse
import sys

import pytest

from srcore import cli

MAINS = {
    "srcore.upscale": "srcore.upscale:main",
    "srcore.evaluate": "srcore.evaluate:main",
    "srcore.prefilter": "srcore.prefilter:main",
    "srcore.data": "srcore.datasets:main",
    "srcore.train": "srcore.train:main",
    "srcore.experiment": "srcore.experiment:main",
}
NAME_CHECKED = set(MAINS)  # every tool: program name, formatter and plain description


class _Got(Exception):
    pass


def parsers(module: str, monkeypatch) -> list[argparse.ArgumentParser]:
    """Every parser (and sub-parser) ``main`` builds, caught at parse time."""
    import importlib

    mod, func = MAINS[module].split(":")
    got: list[argparse.ArgumentParser] = []

    def catch(self, *_a, **_k):
        got.append(self)
        for act in self._actions:
            if isinstance(act, argparse._SubParsersAction):
                got.extend(act.choices.values())
        raise _Got

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(sys, "argv", [f"/venv/bin/srcore-{module.split('.')[-1]}"])
    with pytest.raises(_Got):
        getattr(importlib.import_module(mod), func)([])
    return got


@pytest.mark.parametrize("module", sorted(MAINS))
def test_every_option_has_plain_help_with_its_default(module, monkeypatch):
    for p in parsers(module, monkeypatch):
        if module in NAME_CHECKED:
            assert "``" not in (p.description or ""), f"{module}: reST markup in the description"
        for act in p._actions:
            if isinstance(act, argparse._HelpAction | argparse._SubParsersAction):
                continue
            name = "/".join(act.option_strings) or act.dest
            assert act.help, f"{module}: {name} has no help"
            assert "``" not in act.help and ":func:" not in act.help, f"{module}: markup in {name}'s help"
            shown = p.formatter_class is cli.HelpFormatter and not (
                act.default in (None, False) or act.nargs == 0 and not act.default
            )
            if act.default not in (None, False, [], argparse.SUPPRESS) and act.option_strings:
                assert shown or "default" in act.help.lower(), f"{module}: {name}'s default is not shown"


@pytest.mark.parametrize("module", sorted(NAME_CHECKED))
def test_the_usage_names_the_command_typed(module, monkeypatch):
    for p in parsers(module, monkeypatch)[:1]:
        assert p.prog == f"srcore-{module.split('.')[-1]}"
    monkeypatch.setattr(sys, "argv", ["-m"])
    assert cli.prog(module) == f"python -m {module}"


def test_the_formatter_shows_defaults_and_drops_markup():
    p = cli.parser("srcore.x", "Run ``this`` with :func:`that`.")
    p.add_argument("--tile", type=int, default=384, help="tile side")
    p.add_argument("--flag", action="store_true", help="a switch")
    text = p.format_help()
    assert "Run this with that." in text and "tile side (default: 384)" in text
    assert "a switch (default" not in text
