"""depthbench: compositional depth and test-time compute.

Subpackages
-----------
depthbench.generators
    Task families with certified compositional depth.
depthbench.tasks
    Declarative YAML task specs.
depthbench.scorers
    Answer extraction, verifiers, aggregation, depth curves, equivalence tests.
depthbench.baselines
    Model backends, the evaluation runner and the reference test-time strategies.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
