"""What the command-line tools share: their program name, help format and plain-text help.

A console script (``srcore-upscale``) and ``python -m srcore.upscale`` run the same ``main``; the
usage line should name what the user typed.  Help shows every option's default, and the module
docstrings' reST markup (double backticks) is dropped so the terminal shows plain text."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def prog(module: str) -> str:
    """``srcore-X`` when run as that console script, else ``python -m srcore.X``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    script = "srcore-" + module.rsplit(".", 1)[-1]
    return name if name == script else f"python -m {module}"


def plain(text: str | None) -> str:
    """Help text without reST markup: ``code`` -> code, :role:`x` -> x."""
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text or "")
    return text.replace("``", "")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written (paragraphs kept) and every option's default, unless it has
    none worth showing (None, False, or a help that already states it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower():
            return text
        if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0 and not action.default:
            return text
        return text + " (default: %(default)s)"


def parser(module: str, doc: str | None, **kw) -> argparse.ArgumentParser:
    """An ArgumentParser with the right program name, plain description and defaults shown."""
    return argparse.ArgumentParser(prog=prog(module), description=plain(doc), formatter_class=HelpFormatter, **kw)
