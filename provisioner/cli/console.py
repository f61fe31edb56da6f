"""Where the CLI prints: plain lines without importing rich; rich only for tables and live displays."""

import sys

# The control codes rich drops from printed text (rich/control.py STRIP_CONTROL_CODES: BEL, BS, VT, FF, CR).
_STRIP = dict.fromkeys((7, 8, 11, 12, 13))


class _LazyConsole:
    """A rich Console made on first use (importing rich costs ~12 ms at every start).

    Plain lines (``err.print("text")``: str arguments, no options) never need rich: they are
    written as rich writes them with these options (no markup, no highlighting, no wrapping,
    the same control codes dropped), so `validate` and `preflight --format json` never import it.
    """

    def __init__(self, **options):
        self._options, self._console = options, None

    def print(self, *objects, **kwargs) -> None:
        if kwargs or not all(type(o) is str for o in objects):
            return self.__getattr__("print")(*objects, **kwargs)
        stream = sys.stderr if self._options.get("stderr") else sys.stdout
        stream.write(" ".join(objects).translate(_STRIP) + "\n")
        stream.flush()

    def __getattr__(self, name):
        if self._console is None:
            from rich.console import Console
            self._console = Console(**self._options)
        return getattr(self._console, name)


def Console(**options):       # noqa: N802 - rich's Console, imported when a command prints a table
    from rich.console import Console as RichConsole
    return RichConsole(**options)


err = _LazyConsole(stderr=True, markup=False, highlight=False, soft_wrap=True)
out = _LazyConsole(markup=False, highlight=False, soft_wrap=True)
