"""``tidings pool`` and ``tidings flavor``: the catalog changed from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.cli import main


def test_pools_and_flavors_are_managed_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = ["--storage", f"sqlite:///{tmp_path / 'management.db'}"]
    pool = f"sqlite:///{tmp_path / 'pool.db'}"

    assert main(["pool", "add", "disk", pool, "--weight", "5", *storage]) == 0
    assert main(["flavor", "add", "gold", "disk", *storage]) == 0
    assert main(["pool", "list", *storage]) == 0
    assert main(["flavor", "list", *storage]) == 0
    printed = capsys.readouterr().out.splitlines()

    assert printed == [
        "registered pool disk",
        "defined flavor gold",
        f"disk\tweight=5\tflavor=gold\t{pool}",
        "gold\tpools=disk\tcapabilities=FIFO,CLAIMS,DURABILITY,AOD",
    ]


def test_a_refused_change_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = ["--storage", f"sqlite:///{tmp_path / 'management.db'}"]
    main(["pool", "add", "disk", f"sqlite:///{tmp_path / 'pool.db'}", *storage])
    main(["flavor", "add", "gold", "disk", *storage])

    assert main(["pool", "remove", "disk", *storage]) == 1
    assert "used by flavors gold" in capsys.readouterr().err
    assert main(["flavor", "remove", "gold", *storage]) == 0
    assert main(["pool", "remove", "disk", *storage]) == 0
    assert main(["pool", "list", *storage]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "removed pool disk"


def test_removing_what_is_not_there_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = ["--storage", f"sqlite:///{tmp_path / 'management.db'}"]

    assert main(["pool", "remove", "nosuch", *storage]) == 1
    assert main(["flavor", "remove", "nosuch", *storage]) == 1
    assert main(["pool", "remove", "no such", *storage]) == 1

    assert capsys.readouterr().err.splitlines() == [
        "tidings: there is no pool nosuch",
        "tidings: there is no flavor nosuch",
        "tidings: there is no pool no such",
    ]
