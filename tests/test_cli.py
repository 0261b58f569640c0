"""The command line: `--help` on the program and on each command prints usage and exits 0
without starting anything (it used to start the bot, which stopped only for want of a
token); an unknown command exits 2 with usage; no command runs the bot."""

from __future__ import annotations

import pytest

from bot import cli


def test_help_on_the_program_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    for flag in ("--help", "-h"):
        assert cli.main([flag]) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: python -m bot")
        for command in ("run", "watcher", "migrate", "sandbox", "demo", "check-panel"):
            assert command in out


@pytest.mark.parametrize("command", ["run", "watcher", "migrate", "sandbox", "demo", "check-panel"])
def test_help_on_each_command_prints_its_usage_and_exits_0_without_starting_it(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    monkeypatch.setattr(cli, "check_database", lambda **_: pytest.fail("--help must not touch the database"))
    assert cli.main([command, "--help"]) == 0
    captured = capsys.readouterr()
    assert f"usage: python -m bot {command}" in captured.out
    assert "Configuration error" not in captured.out + captured.err


def test_an_unknown_command_exits_2_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "usage: python -m bot" in err and "frobnicate" in err


def test_run_and_watcher_take_no_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--verbose"]) == 2
    assert "takes no options" in capsys.readouterr().err


def test_no_command_runs_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(cli, "check_database", lambda **_: True)
    import bot.app

    monkeypatch.setattr(bot.app, "run", lambda argv: ran.append(argv) or 0)
    assert cli.main([]) == 0
    assert ran == [[]]
