"""Declarative task specs (YAML) and their loader.

Bundled specs live beside this file as ``*.yaml``; ``load_spec(name_or_path)`` returns a
validated, frozen :class:`TaskSpec`; ``list_specs()`` lists the bundled concrete ones.
"""

from depthbench.tasks._spec import SplitSpec, TaskSpec, list_specs, load_spec, spec_dir

__all__ = ["TaskSpec", "SplitSpec", "load_spec", "list_specs", "spec_dir"]
