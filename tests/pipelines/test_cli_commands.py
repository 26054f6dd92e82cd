"""Every registered command answers ``--help`` (in-process, exit 0, its own usage line), and the
package holds exactly the registered command modules plus the shared arguments."""
from __future__ import annotations

import pkgutil

import pytest

import pipelines.cli as cli


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_registered_command_answers_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: facerec {command}")


def test_registry_and_package_agree(capsys):
    modules = {m.name for m in pkgutil.iter_modules(cli.__path__)} - {"args", "__main__"}
    assert modules == set(cli.COMMANDS)
    assert cli.main([]) == 2  # no command: the overview, status 2
    overview = capsys.readouterr().out
    assert all(f"    {c}" in overview for c in cli.COMMANDS)
