"""Mail templates: Jinja2 text templates, sandboxed, looked up by language (issue 20 moved
them here out of outbound/render.py, which re-exports these names).

Templates live in `<lang>/<audience>/<purpose>.txt`; a folder named by `templates:` in
the config overrides the shipped ones file by file. A missing language falls back to the
instance default, then to English.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.runtime
from jinja2.sandbox import SandboxedEnvironment

from maildesk.config import Config

__all__ = [
    "SHIPPED_TEMPLATES",
    "Texts",
    "checked_once",
    "environment",
    "find_template",
    "render_shared",
    "render_text",
    "template_languages",
]


def _shipped() -> Path:
    """`maildesk/templates`: package data, so a plain `pip install .` ships it too."""
    return Path(__file__).resolve().parents[1] / "templates"


SHIPPED_TEMPLATES = _shipped()



_SEEN: ContextVar[set[str] | None] = ContextVar("maildesk_template_names", default=None)
_MISSING = object()


class _Noting(jinja2.runtime.Context):
    """A mail template's context that notes every name the template (and what it
    includes) looks up, while `render_shared` listens."""

    def __init__(self, environment: jinja2.Environment, parent: dict[str, Any],
                 name: str | None, blocks: dict[str, Any],
                 globals: MutableMapping[str, Any] | None = None) -> None:
        # Jinja2's `set(globals)` of a template's globals (a ChainMap) iterates it in
        # Python, ~3 us for each render and each include (issue 20); the union of its
        # maps' keys is the same set, made in C.
        super().__init__(environment, parent, name, blocks)
        if globals is not None:
            self.globals_keys = (set().union(*globals.maps) if type(globals) is ChainMap
                                 else set(globals))

    def resolve_or_missing(self, key: str) -> Any:
        seen = _SEEN.get()
        if seen is not None:
            seen.add(key)
        return super().resolve_or_missing(key)


_CHECKED: ContextVar[dict[Any, bool] | None] = ContextVar("maildesk_templates_checked",
                                                          default=None)


class _Loader(jinja2.FileSystemLoader):
    """Jinja2's loader, whose check that a compiled template is still what its file says
    (a stat of the file, made for every lookup: each render of a template that includes
    another, issue 20) is made once per template in a sender's pass or an ingest batch
    (`checked_once`; at ingest each mail's templates are looked up to see that they
    compile). Outside one every lookup checks, as Jinja2 does; a template edited while
    maildesk runs is used from the next pass or batch on (the rows of one pass are
    rendered together, the mails of one batch committed together)."""

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)

        def checked() -> bool:
            memo = _CHECKED.get()
            if memo is None:
                return uptodate()
            known = memo.get(checked)
            if known is None:
                known = memo[checked] = uptodate()
            return known

        memo = _CHECKED.get()
        if memo is not None:  # read just now: up to date for the rest of the pass
            memo[checked] = True
        return source, filename, checked


# Inside `checked_once`: what `find_template` found, per templates folder, default
# language, name and language (the template is up to date for the scope anyway).
_FOUND: ContextVar[dict[tuple[Any, ...], jinja2.Template] | None] = ContextVar(
    "maildesk_templates_found", default=None)


@contextmanager
def checked_once() -> Iterator[None]:
    """Inside: each template's file is looked at once whatever the lookups and renders
    (see `_Loader`): a sender's pass, an ingest batch (`batch.Batcher._run_batch`); and
    `find_template` finds each template once (the fall-back chain's misses, which Jinja2
    caches not, stat their files each time)."""
    token = _CHECKED.set({})
    found = _FOUND.set({})
    try:
        yield
    finally:
        _FOUND.reset(found)
        _CHECKED.reset(token)


_DICT_NAMES = frozenset(dir({}))  # what getattr finds on a plain dict: its methods


class _Sandbox(SandboxedEnvironment):
    """The sandbox, `ticket.number` on a plain dict made cheaper (issue 20)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`SandboxedEnvironment.getattr`: for a plain dict and a name that is none of its
        attributes, that getattr raised an AttributeError and returned `obj[attribute]` or
        an undefined; here the item is taken at once, without the exception (~1 us of
        each of the ~8 such look-ups a mail template makes). Anything else, a dict's
        methods too, goes through the sandbox's checks."""
        if type(obj) is dict and type(attribute) is str and attribute not in _DICT_NAMES:
            try:
                return obj[attribute]
            except LookupError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


@lru_cache(maxsize=8)
def _environment(override: Path | None, shipped: Path) -> SandboxedEnvironment:
    folders = [str(p) for p in (override, shipped) if p is not None]
    env = _Sandbox(
        loader=_Loader(folders),
        autoescape=False,  # plain-text mail; no HTML is ever rendered
        undefined=jinja2.ChainableUndefined,  # an organisation's template may be sloppy
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.context_class = _Noting
    return env


def environment(config: Config) -> SandboxedEnvironment:
    """The Jinja2 environment for this config: its `templates:` folder first, then ours.

    Sandboxed, because template authors are admins, not Python programmers: a template can
    read the plain values it is given and nothing behind them."""
    return _environment(config.templates, SHIPPED_TEMPLATES)


def template_languages(config: Config, language: str | None) -> list[str]:
    """The fall-back chain: `de-AT` → `de` → the instance default → `en`."""
    chain: list[str] = []
    for lang in (language, (language or "").replace("_", "-").split("-")[0],
                 config.instance.default_language, "en"):
        if lang and lang.lower() not in chain:
            chain.append(lang.lower())
    return chain


def find_template(config: Config, name: str, language: str | None) -> jinja2.Template:
    """`<lang>/<name>` for the first language in the chain that has it, compiled (Jinja2
    caches it): TemplateNotFound or TemplateSyntaxError here, not when it is rendered.
    Inside `checked_once` once per template and language (issue 20: ~3.5 us a lookup, an
    ingest looks up ~1.5 a mail; a language without the template ~12 us); an error is
    raised again each time."""
    found = _FOUND.get()
    if found is None:
        return _select(config, name, language)
    key = (config.templates, config.instance.default_language, name, language)
    template = found.get(key)
    if template is None:
        template = found[key] = _select(config, name, language)
    return template


def _select(config: Config, name: str, language: str | None) -> jinja2.Template:
    names = [f"{lang}/{name}" for lang in template_languages(config, language)]
    return environment(config).select_template(names)


def render_text(config: Config, name: str, language: str | None, /,
                **context: object) -> str:
    """Render `<lang>/<name>` for the first language in the chain that has it."""
    names = [f"{lang}/{name}" for lang in template_languages(config, language)]
    template = find_template(config, name, language)
    # `folder` lets a template include its siblings in the language it was found in.
    folder = (template.name or names[-1]).split("/", 1)[0]
    # `web`: the branding (web.title, web.base_url) of every customer mail's signature.
    return template.render(**{"folder": folder, "web": config.web, **context})


class Texts:
    """The bodies `render_shared` made in one sender pass: per template and language, the
    compiled template, the values of the names it read, and the text."""

    def __init__(self) -> None:
        self.done: dict[tuple[str, str, object],
                        list[tuple[jinja2.Template, dict[str, Any], str]]] = {}
        self.reused = 0
        # per template and language, the template found: looked up once a pass, not per
        # mail (Jinja2 stats the file for every lookup, to see whether it changed)
        self.found: dict[tuple[str, str | None], jinja2.Template] = {}
        # per template, its globals as one dict (`_render`): flattened once a pass
        self.globals: dict[jinja2.Template, dict[str, Any]] = {}


def _same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (1, 1.0 and True render apart).
    Loops instead of `all` over generators, a str's answer first (issue 20: the second
    agent's notification compares its values with the first's, 19 -> 11 us)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is str:
        return a == b
    if isinstance(a, dict):
        assert isinstance(b, dict)
        if list(a) != list(b):
            return False
        for k, v in a.items():
            if not _same(v, b[k]):
                return False
        return True
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if not _same(x, y):
                return False
        return True
    return a == b


def _reads_same(values: dict[str, Any], seen: dict[str, Any]) -> bool:
    """Whether `values` has what a render read (`seen`), `_same` for each name."""
    for name, value in seen.items():
        if not _same(values.get(name, _MISSING), value):
            return False
    return True


def _render(template: jinja2.Template, values: dict[str, Any], texts: Texts) -> str:
    """`template.render(**values)`, the context's dict made from the template's globals
    flattened once a pass: `Template.new_context` copies them out of their `ChainMap`
    (`dict(globals, **values)`, a pure-Python lookup per global, ~10 us of a ~45 us
    render; issue 20). The same context (its parent dict has the same items in the same
    order) and the same exception handling as `Template.render` in Jinja2 3.1."""
    env = template.environment
    flat = texts.globals.get(template)
    if flat is None:
        if env.is_async:  # never for maildesk's environment; render as Jinja2 does
            return template.render(**values)
        flat = texts.globals[template] = dict(template.globals)
    context = env.context_class(env, {**flat, **values}, template.name, template.blocks,
                                globals=template.globals)
    try:
        return env.concat(template.root_render_func(context))  # type: ignore[attr-defined]
    except Exception:
        env.handle_exception()


def render_shared(config: Config, name: str, language: str | None,
                  context: dict[str, Any], texts: Texts, group: object = None) -> str:
    """`render_text`, reusing a text of `texts` whose render read the same values: the
    notifications of one mail to several agents differ in values the shipped templates do
    not show (the agent, the reply address), so the body is rendered once for all of them.

    Sound for any template: what it writes depends only on the values of the names it
    looks up (the context notes them, in what it includes too), so a context with the same
    values for those names renders the same text, branch for branch. A template that reads
    the agent gets a text per agent. `group` (hashable): only texts of the same group are
    compared (the mails of one ticket and article), so a pass of many mails compares each
    with a few, not with all."""
    template = texts.found.get((name, language))
    if template is None:
        template = texts.found[name, language] = find_template(config, name, language)
    folder = (template.name or f"en/{name}").split("/", 1)[0]
    values = {"folder": folder, "web": config.web, **context}
    key = (name, language or "", group)
    for done, seen, text in texts.done.get(key, ()):
        if done is template and _reads_same(values, seen):
            texts.reused += 1
            return text
    noted: set[str] = set()
    token = _SEEN.set(noted)
    try:
        text = _render(template, values, texts)
    finally:
        _SEEN.reset(token)
    seen = {n: values.get(n, _MISSING) for n in noted}
    texts.done.setdefault(key, []).append((template, seen, text))
    return text
