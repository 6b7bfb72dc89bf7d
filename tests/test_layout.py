"""The package's layering, read from the source with ``ast`` (nothing is imported): the zoo
modules import each other without a cycle, and the model registry is a leaf."""

import ast
from pathlib import Path

ZOO = Path(__file__).resolve().parents[1] / "zoo"
HEAVY = ("keras", "keras_tuner", "tensorflow", "jax", "torch")  # what the ground floor avoids


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ZOO.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ZOO.rglob("*.py"))}


def _imports(module: str) -> tuple[set, set]:
    """(zoo modules, other top-level packages) that ``module`` imports anywhere in its file,
    at module level or inside functions. ``from zoo import validation`` is zoo.validation;
    a name that is not a module (``from zoo.registry import get_spec``) is its module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..a import b
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.add(full if full in MODULES else base)
    zoo, other = set(), set()
    for name in names:
        if name == "zoo" or name.startswith("zoo."):
            while name not in MODULES:  # zoo.registry.get_spec -> zoo.registry
                name = name.rpartition(".")[0]
            if name != module:
                zoo.add(name)
        else:
            other.add(name.partition(".")[0])
    return zoo, other


GRAPH = {m: _imports(m) for m in MODULES}


def _cycle() -> list | None:
    """One import cycle of the zoo modules, as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(GRAPH[m][0]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def _reaches(module: str) -> tuple[set, set]:
    """Every zoo module and outside package ``module`` imports, directly or through others."""
    seen, outside, todo = set(), set(), [module]
    while todo:
        m = todo.pop()
        zoo, other = GRAPH[m]
        outside |= other
        todo.extend(zoo - seen)
        seen |= zoo
    return seen, outside


def test_the_graph_reads_the_imports():
    zoo, other = GRAPH["zoo.registry"]
    assert "zoo.validation" in zoo  # from zoo.validation import ...
    assert "zoo.models" in GRAPH["zoo.factory"][0]  # import zoo.models
    assert "zoo.models.shallow" in GRAPH["zoo.tuning.hypermodel"][0]  # inside a function
    assert "keras" in GRAPH["zoo.models.resnet"][1]


def test_no_import_cycle_in_zoo():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_registry_is_a_leaf():
    """As timm's _registry.py: the model families import the registry, never the reverse;
    it imports only ground-floor modules, which never import Keras, even indirectly."""
    ground = {m for m in MODULES
              if m != "zoo" and not _reaches(m)[1] & set(HEAVY)
              and "zoo" not in _reaches(m)[0]}
    assert {"zoo.validation", "zoo.registry"} <= ground
    zoo, other = GRAPH["zoo.registry"]
    assert zoo <= ground, f"zoo.registry imports {sorted(zoo - ground)}"
    assert not other & set(HEAVY)
    for family in ("zoo.models.resnet", "zoo.models.dmrnet", "zoo.models.procresnet",
                   "zoo.models.shallow"):
        assert "zoo.registry" in GRAPH[family][0]
