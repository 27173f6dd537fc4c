"""The progress display of long commands (demo, sync, relay): one line per task, counts and notes."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def progress_display(console: Console) -> Progress:
    """Spinner, task name, bar, done/total, a free note and the elapsed time."""
    return Progress(SpinnerColumn(), TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console)
