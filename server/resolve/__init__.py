"""Entity resolution: model spans -> canonical values (catalogs, builtins, patterns).

See resolver.py for the flow and the overlap rule, docs/resolution.md for examples.
"""

from .errors import DomainConfigError
from .resolver import BUILTINS, KINDS, Resolver

__all__ = ["BUILTINS", "DomainConfigError", "KINDS", "Resolver"]
