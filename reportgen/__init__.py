"""reportgen: static-site reports of where a Vision Transformer looks.

``from reportgen import analyze`` is the notebook's entry (:mod:`reportgen.notebook`), imported
only when asked for, so ``import reportgen`` (the command line's first step) stays light.
"""

__version__ = "0.2.0"
__all__ = ["analyze"]


def __getattr__(name: str) -> object:
    if name == "analyze":
        from reportgen.notebook import analyze

        return analyze
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")
