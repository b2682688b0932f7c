"""Entity resolution: model spans -> canonical values (catalogs, builtins, patterns)."""

from .resolver import Resolver

__all__ = ["Resolver"]
