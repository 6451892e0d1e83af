import inspect

import pytest

from plotpalette import errors


def error_classes():
    return [
        obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)
    ]


def test_every_error_derives_from_the_one_base():
    assert all(issubclass(cls, errors.PlotPaletteError) for cls in error_classes())


def test_error_codes_are_unique():
    codes = [cls.code for cls in error_classes()]
    assert len(codes) == len(set(codes))


def test_all_lists_every_error():
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in error_classes())


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_message_says_how_to_fix(cls):
    err = cls("something broke")
    assert str(err).startswith("something broke — ")
    assert len(err.fix) > 10
    assert err.to_dict()["code"] == cls.code


def test_specific_fix_overrides_default():
    err = errors.ModelAccessError("no access to x", fix="Enable x.")
    assert err.fix == "Enable x." and str(err) == "no access to x — Enable x."
