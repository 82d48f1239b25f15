"""Lazy exports (PEP 562): a package names what it exports and imports each module on first use.

`import lsd_schedulers.noise_schedules` then costs little more than `import torch`, as diffusers and transformers
export lazily too.
"""

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """`__getattr__` and `__dir__` for a package whose exported names come from the submodules in `exports`.

    Args:
        package (`str`): the package's `__name__`.
        exports (`dict[str, str]`): exported name -> the submodule that defines it, relative (`".scheduling_lsd"`).
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
