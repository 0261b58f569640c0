"""The package installs whole: a wheel (what `pip install .` and a container build make)
carries the translations, so an installed bot speaks every language, not only a bot run
from a source tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_built_wheel_installed_elsewhere_has_all_eight_languages(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True, cwd=tmp_path, capture_output=True,
    )
    (wheel,) = dist.glob("smm_panel_bot-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
        check=True, cwd=tmp_path, capture_output=True,
    )
    probe = (
        "import bot, bot.i18n as i;"
        "print(bot.__file__);"
        "print(','.join(i.available_locales()));"
        "print(i.I18n('ru')._('What I can do'))"
    )
    # Run from an empty folder with only the installed copy first on the path: the
    # source tree (and its editable install) must not be what answers.
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    where, locales, russian = result.stdout.splitlines()
    assert Path(where).is_relative_to(site)
    assert set(locales.split(",")) == {"en", "ru", "es", "pt_BR", "tr", "hi", "id", "ar"}
    assert russian != "What I can do"
