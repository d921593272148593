"""The live progress bar on stderr: time left, and the rates so far."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tidings.bench.recorder import Recorder


class LiveProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rates]}"),
            console=console,
            refresh_per_second=4,
            transient=True,
        )
        self._task = self._progress.add_task("", total=1.0, rates="")

    def start(self, label: str, seconds: float) -> None:
        self._progress.reset(self._task, description=label, total=seconds, rates="")
        self._progress.start()

    def update(self, elapsed: float, recorder: Recorder) -> None:
        seconds = max(elapsed, 1e-9)
        moved = recorder.produced + recorder.consumed
        rates = (
            f"{moved / seconds:,.0f} msgs/s  {recorder.requests / seconds:,.0f} req/s  "
            f"{recorder.errors} errors"
        )
        self._progress.update(self._task, completed=elapsed, rates=rates)

    def stop(self) -> None:
        self._progress.stop()
