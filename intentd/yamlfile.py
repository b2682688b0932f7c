"""YAML read strictly: a key written twice in one mapping is an error naming its line.

yaml.safe_load keeps the last of two equal keys without a word (a second `greeting:` block in
domain.yaml replaced the first, slots and all; a second `listen:` in a serve config chose the
listener). Shared by domain.yaml (import, train, serve) and `intentd serve --config`; it imports
nothing but PyYAML, so the health probe stays light.
"""

from __future__ import annotations

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load keeps the last of two equal keys without a word: a second `greeting:` block
    replaces the first, slots and all. This loader refuses them, naming the line (a YAML error,
    so every reader's handling of invalid YAML applies). Keys merged in with `<<:` may be
    overridden, as YAML intends."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the constructor below says so
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first}; YAML would keep only the last)",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> object:
    """YAML text -> its value, as yaml.safe_load but refusing duplicate keys."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
