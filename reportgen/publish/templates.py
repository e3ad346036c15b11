"""The templates of one build or render: where they are looked up (the user's folder first, so
it overrides any file by name, then the packaged ones), the Jinja2 environment of each escaping
policy, compiled templates kept between runs, and the fingerprint of everything a page is made
from (part of the key of a cached page).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2

from reportgen import store
from reportgen.errors import ReportgenError
from reportgen.methods import registry
from reportgen.publish import flavours
from reportgen.publish.escaping import Escaping, number, param_value
from reportgen.publish.page_model import entropy_digits, figure_alt, figure_caption

# The code that shapes a page besides its templates: filters, the page model, layouts, renderer.
PAGE_CODE = (
    "publish.escaping",
    "publish.page_model",
    "publish.templates",
    "publish.pages",
    "publish.flavours.base",
    "publish.flavours.html",
    "publish.flavours.jekyll",
    "publish.flavours.gfm",
    "publish.flavours.distill",
    "publish.bibliography",
    "publish.flavours.hugo",
    "publish.flavours.mkdocs",
)
_BLANK_LINES = re.compile(r"\n{3,}")


def packaged_templates() -> Path:
    """``reportgen/templates`` in an installed wheel, else ``<repo>/templates`` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, exactly one final newline."""
    lines = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip("\n") + "\n"


class Templates:
    """The templates a build or render uses: ``user_dir`` (the user's overrides, or None) first,
    then the folders of flavours that bring their own (plugins), then the packaged ones;
    ``bytecode_dir`` keeps compiled templates between runs (None: not kept). Made once per
    build and passed to whatever renders a page or copies a script."""

    def __init__(self, user_dir: Path | None = None, bytecode_dir: Path | None = None):
        self.user_dir = Path(user_dir) if user_dir is not None else None
        self.bytecode_dir = Path(bytecode_dir) if bytecode_dir is not None else None
        own = [flavour.templates for flavour in flavours.registry().values() if flavour.templates]
        self.search_path = [*([self.user_dir] if self.user_dir else []), *own]
        self.search_path.append(packaged_templates())
        self._environments: dict[Escaping, jinja2.Environment] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a worker compiles them): the environments are made again where used."""
        return {**self.__dict__, "_environments": {}}

    def file(self, name: str) -> Path:
        """A file shipped with the templates (a script, a stylesheet), the user's folder first."""
        return next(folder / name for folder in self.search_path if (folder / name).is_file())

    def environment(self, escaping: Escaping) -> jinja2.Environment:
        """The environment of ``escaping``, made once.

        Compiled code depends on the autoescape setting and the shared partials are compiled by
        every environment, so each escaping policy gets its own bytecode folder.
        """
        if escaping not in self._environments:
            bytecode_cache = None
            if self.bytecode_dir is not None:
                folder = self.bytecode_dir / ("autoescape" if escaping.autoescape else "verbatim")
                folder.mkdir(parents=True, exist_ok=True)
                bytecode_cache = jinja2.FileSystemBytecodeCache(str(folder))
            # A map method's bullet of "How the maps are made" is the template methods/NAME.j2.
            method_bullets = registry.bullets()
            loader = jinja2.ChoiceLoader(
                [jinja2.FileSystemLoader(folder) for folder in self.search_path]
                + [jinja2.DictLoader(method_bullets)]
            )
            environment = jinja2.Environment(
                loader=loader,
                bytecode_cache=bytecode_cache,
                autoescape=escaping.autoescape,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            environment.filters.update(escaping.filters)
            environment.filters["param_value"] = param_value
            environment.filters["number"] = number
            environment.globals["caption"] = figure_caption
            environment.globals["figure_alt"] = figure_alt
            environment.globals["entropy_digits"] = entropy_digits
            environment.globals["method_bullets"] = list(method_bullets)
            self._environments[escaping] = environment
        return self._environments[escaping]

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 of every template that could be used (user folder first) and of the code that
        shapes a page (:data:`PAGE_CODE`), the map methods' bullets included: part of the key
        of a cached page. Folders count by their place in the search path, not where they are,
        so two installations of one version share a cache's pages."""
        digest = hashlib.sha256(store.source_fingerprint(*PAGE_CODE).encode())
        for name, text in registry.bullets().items():
            digest.update(f"{name}\n{text}".encode())
        for place, folder in enumerate(self.search_path):
            # methods/NAME.j2 overrides a map method's bullet (see environment())
            for path in sorted([*folder.iterdir(), *folder.glob("methods/*.j2")]):
                if path.is_file():
                    digest.update(f"{place}/{path.relative_to(folder).as_posix()}\n".encode())
                    digest.update(path.read_bytes())
        return digest.hexdigest()

    def render(self, escaping: Escaping, name: str, variables: dict[str, Any]) -> bytes:
        """Render a template; template problems (often in user overrides) become plain
        messages."""
        try:
            text = self.environment(escaping).get_template(name).render(variables)
        except jinja2.TemplateSyntaxError as error:
            where = f"{error.filename or error.name}:{error.lineno}"
            raise ReportgenError(f"template {where}: {error.message}") from None
        except jinja2.TemplateError as error:
            raise ReportgenError(f"template {name}: {error}") from None
        return _tidy(text).encode()

    def macros(self, escaping: Escaping, names: Sequence[str], variables: dict[str, Any]) -> Any:
        """The macros of the templates ``names`` as one namespace, later files overriding
        earlier ones (a flavour's markup dialect, the ``m`` of the shared partials)."""
        macros: dict[str, jinja2.runtime.Macro] = {}
        for name in names:
            module = self.environment(escaping).get_template(name).make_module(vars=variables)
            macros.update(
                (key, value)
                for key, value in vars(module).items()
                if isinstance(value, jinja2.runtime.Macro)
            )
        return SimpleNamespace(**macros)

    def compile(self, escapings: Iterable[Escaping]) -> None:
        """Compile every template for each of ``escapings`` into the bytecode folder before any
        page is rendered: a build does it in a worker while the model loads, so its pages do not
        wait. Templates that do not compile are left to fail, with a message, when rendered."""
        for escaping in dict.fromkeys(escapings):
            environment = self.environment(escaping)
            for name in environment.list_templates(extensions=["j2"]):
                try:
                    environment.get_template(name)
                except jinja2.TemplateError:
                    continue
