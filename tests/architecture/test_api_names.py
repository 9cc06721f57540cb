"""The package's API names are never shadowed by its submodules.

Importing a submodule sets it as an attribute of its package: a module ``recover/scan.py`` replaced
the function ``recover.scan`` as soon as a first scan had imported it, so a script (or the worker,
or the web app) that scanned twice got "'module' object is not callable"."""

from __future__ import annotations

import importlib
import pkgutil

import recover


def test_no_api_name_is_also_a_submodule():
    submodules = {m.name for m in pkgutil.iter_modules(recover.__path__)}
    assert not submodules & set(recover.__all__), submodules & set(recover.__all__)


def test_every_api_name_stays_callable_after_every_submodule_is_imported():
    for m in pkgutil.walk_packages(recover.__path__, "recover."):
        importlib.import_module(m.name)
    shadowed = [name for name in recover.__all__ if callable(getattr(recover.api, name, None))
                and getattr(recover, name) is not getattr(recover.api, name)]
    assert shadowed == []
