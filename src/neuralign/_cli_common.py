"""What every ``neuralign`` command shares: one ``error:`` line for every failure, one line per warning.

- ``reported()`` wraps a command's body: bad input (``ValueError``, ``TypeError``, a missing file, a missing
  optional dependency) becomes ``error: MESSAGE`` and exit code 2; an operating-system error while reading or
  writing (disk full, permission denied) and a diverging fit become one ``error:`` line and exit code 1; Ctrl-C
  becomes one line (``interrupted: ...``, what was kept and how to resume) and exit code 130. Warnings are printed
  as ``warning: MESSAGE`` lines (notes as ``note: MESSAGE``), never with the source line Python shows.
- ``NeuralignGroup`` turns the command line's own usage errors (unknown option, a value that is not a number)
  into one ``error:`` line too, exit code 2.

Temporary files of atomic writes are removed by ``neuralign._atomic`` on every failure path, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Any, Callable, Iterator, NoReturn

import typer
from typer.core import TyperGroup

from neuralign._checks import Note

try:  # typer >= 0.22 ships its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException, UsageError  # type: ignore[no-redef]

    class NoArgsIsHelpError(Exception):  # type: ignore[no-redef]
        """Absent from older click: no-args help is not a usage error there."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: MESSAGE`` (one line) to stderr and exit with ``code``."""
    typer.secho(f"error: {' '.join(str(message).split())}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    prefix = "note" if issubclass(category, Note) else "warning"
    typer.secho(f"{prefix}: {' '.join(str(message).split())}", fg=typer.colors.YELLOW, err=True)


def _os_error(error: OSError) -> str:
    where = f" ({error.filename!s})" if error.filename else ""
    reason = error.strerror or str(error) or type(error).__name__
    return (f"{reason}{where}. Nothing partial was left at the output (files are written to a temporary name and "
            "renamed into place); free space or fix the permissions and rerun.")


@contextlib.contextmanager
def reported(interrupted: Callable[[], str] | None = None) -> Iterator[None]:
    """Run a command's body, turning every expected failure into one line and an exit code (module docstring).

    ``interrupted`` returns the line to print on Ctrl-C (what was kept, how to resume).
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            yield
        except FileNotFoundError as error:  # our own messages, or the OS's "No such file or directory"
            fail(str(error) if not error.filename else _os_error(error))
        except (ValueError, TypeError, ImportError) as error:
            fail(str(error))
        except EOFError as error:  # a reader that ran out of data: an empty or cut-off input file
            fail(f"an input file ended early (empty or truncated): {error}")
        except OSError as error:
            fail(_os_error(error), code=1)
        except FloatingPointError as error:  # neuralign.train.NonFiniteLossError: the fit diverged
            fail(str(error), code=1)
        except MemoryError:
            fail("out of memory; use smaller data, a smaller model or a smaller batch_size.", code=1)
        except KeyboardInterrupt:
            message = (interrupted() if interrupted is not None
                       else "stopped before finishing; no half-written file was left.")
            typer.secho(f"interrupted: {message}", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(code=130) from None


# ------------------------------------------------------------------------------------ NWB inputs on the command line
def bin_size_option() -> Any:
    return typer.Option(None, "--bin-size", help="for .nwb inputs: bin width in seconds")


def window_option() -> Any:
    return typer.Option(None, "--window", help="for .nwb inputs: BEFORE,AFTER seconds around each trial's event, "
                                               "e.g. 0.2,0.5 (both >= 0)")


def event_option() -> Any:
    return typer.Option(None, "--event", help="for .nwb inputs: trials-table column of the event times "
                                              "(default start_time)")


def behavior_option() -> Any:
    return typer.Option(None, "--behavior", help="for .nwb inputs: the TimeSeries read as behaviour (default: the "
                                                 "first found; 'none': no behaviour)")


def label_column_option() -> Any:
    return typer.Option(None, "--label-column", help="for .nwb inputs: trials-table column of condition labels")


def nwb_options(specs: list[Any], *, bin_size: float | None = None, window: str | None = None,
                event: str | None = None, behavior: str | None = None,
                label_column: str | None = None) -> dict[str, Any]:
    """read_nwb's keyword arguments from the command line's options; refuses them when no input is .nwb."""
    given = {name: value for name, value in (("bin_size", bin_size), ("window", window), ("event", event),
                                             ("behavior", behavior), ("label_column", label_column))
             if value is not None}
    if given and not any(str(spec).lower().endswith(".nwb") for spec in specs):
        first = next(iter(given))
        raise ValueError(f"{first} (--{first.replace('_', '-')}): applies to .nwb inputs only (it says how to bin "
                         f"their spike times into trials), and none of {[str(spec) for spec in specs]} is one; "
                         "drop it.")
    if window is not None:
        try:
            before, after = (float(part) for part in window.split(","))
        except ValueError:
            raise ValueError(f"window (--window): expected BEFORE,AFTER in seconds such as 0.2,0.5, got "
                             f"{window!r}.") from None
        given["window"] = (before, after)
    if behavior is not None and behavior.lower() in ("none", "false"):
        given["behavior"] = False
    return given


class NeuralignGroup(TyperGroup):
    """The top-level group: usage errors (unknown option, bad number, missing argument) as one ``error:`` line."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except UsageError as error:
            command = error.ctx.command_path if error.ctx is not None else "neuralign"
            typer.secho(f"error: {' '.join(error.format_message().split())} (see `{command} --help`)",
                        fg=typer.colors.RED, err=True)
            sys.exit(2)
        except ClickException as error:  # other errors of the command line itself (e.g. an unreadable file)
            typer.secho(f"error: {' '.join(error.format_message().split())}", fg=typer.colors.RED, err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.secho("interrupted: stopped before finishing; no half-written file was left.",
                        fg=typer.colors.YELLOW, err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)
