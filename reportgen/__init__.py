"""reportgen: static-site reports of where a Vision Transformer looks."""

__version__ = "0.2.0"
