"""docs/troubleshooting.md is generated from the error taxonomy and must match it."""

from __future__ import annotations

from pathlib import Path

from movie_director import troubleshooting
from movie_director.errors import ALL_ERRORS, MovieDirectorError, entry_for

PAGE = Path(__file__).parents[2] / "docs" / "troubleshooting.md"


def test_page_matches_taxonomy() -> None:
    assert PAGE.read_text(encoding="utf-8") == troubleshooting.render(), (
        "docs/troubleshooting.md is out of date: run `python -m movie_director.troubleshooting docs/troubleshooting.md`"
    )


def test_every_code_has_a_section_causes_and_hints() -> None:
    text = troubleshooting.render()
    for cls in ALL_ERRORS:
        assert f'<a id="{cls.code}"></a>' in text
        assert entry_for(cls).causes, f"{cls.code} lists no likely causes"
        assert cls(service="X").hints, f"{cls.code} has no fixes"


def test_a_new_code_without_regenerating_fails(monkeypatch) -> None:
    class Brand(MovieDirectorError):
        code = "brand_new_code"

    monkeypatch.setattr(troubleshooting, "ALL_ERRORS", (*ALL_ERRORS, Brand))
    assert PAGE.read_text(encoding="utf-8") != troubleshooting.render()


def test_every_error_class_in_the_module_is_listed() -> None:
    import movie_director.errors as errors

    defined = {
        obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, MovieDirectorError) and obj.code not in ("error",)
    }
    abstract = {errors.ConnectionProblem, errors.SettingsError}
    assert defined - abstract <= set(ALL_ERRORS), sorted(cls.__name__ for cls in defined - abstract - set(ALL_ERRORS))


def test_main_writes_the_page(tmp_path, capsys) -> None:
    target = tmp_path / "page.md"
    assert troubleshooting.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == troubleshooting.render()
    assert troubleshooting.main([]) == 0
    assert capsys.readouterr().out == troubleshooting.render()
