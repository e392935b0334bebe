"""The one seam to pygeoapi: its blueprint on our own Flask app, and every patch.

pygeoapi is extended through its plugin points (providers, the process manager,
the CSV formatter entry, templates). What those cannot do is done here and only
here, each change a `Patch` written for pygeoapi 0.24.0:

- identity-bbox-transform: no transform_bbox when the bbox is already in the
  storage CRS (docs/upstream/identity-bbox-transform.md);
- result-type-alias: `resultType` (what GDAL and WFS clients send) as pygeoapi's
  `resulttype` (docs/upstream/result-type-alias.md);
- request-query: the request's `bbox`/`bbox-crs` and `skipGeometry`, which
  pygeoapi does not hand a provider, set for kmzb.providers.request_query (the
  whole box transformed by PostGIS: docs/upstream/bbox-crs-whole-box.md);
- keyset-next-link: `cursor` on items taken from the query before the query checks
  and handed to kmzb.providers.postgis (its `paging` context), with the address a
  `next` link needs; the provider returns the next link itself, which pygeoapi's
  get_collection_items uses as it is ("Using next link from provider"), so the next
  page is a keyset read, not an offset (docs/upstream/keyset-next-link.md);
- plugin-locale: providers get the language asked for
  (docs/upstream/plugin-locale.md);
- tilematrixset-templates: the /TileMatrixSets pages from our templates
  (docs/upstream/tilematrixset-templates.md);
- error-answers: `API.get_exception`, where every error of pygeoapi's views
  becomes an answer: database faults 503 + Retry-After, one log line for a 4xx,
  and the body `{code, type, description (English), message: {pl, en}}` with a
  process's DomainError read from the DomainProcessError being handled (its
  status, per-field errors, headers, the emergency notice on submissions);
- csv-formatter: `f=csv` through kmzb.service.csv_safety.SafeCSVFormatter;
- conformance-classes: /conformance lists what the service does
  (kmzb.service.conformance.FEATURE_CLASSES);
- pubsub-advertise-only: the `pubsub:` broker is advertised (landing page hub link,
  /asyncapi) but pygeoapi never connects or publishes to it: its MQTT client would
  connect and publish every process execution's result (a review's answer) under
  `<channel>/processes/...`. Our AdvertisedBroker takes its place; KMZB publishes
  through kmzb.alerts_publisher only, and the API works with the broker down;
- pubsub-no-message: with that broker, pygeoapi's publish_message (called after each
  process execution and transaction) returns at once: it built a CloudEvent (the
  answer parsed back from JSON, a uuid4, a timestamp) for a `pub` that sends nothing,
  6 % of a submission's Python (docs/upstream/pubsub-no-message.md);
- pubsub-collection-links: the collections that have alerts (kmzb.service.asyncapi.
  COLLECTION_TOPICS) carry a link to the broker with its topic as `channel`.

`check()` runs before anything is patched: the pygeoapi version must be one in
SUPPORTED_VERSIONS and the source of every function a patch depends on must
hash as it did when the patch was written (FINGERPRINTS). Otherwise the app
refuses to start, naming the patch and what changed: look at the patch again,
then update its fingerprint. tests/test_pygeoapi_adapter.py runs the same check.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from flask import Flask, has_request_context, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from kmzb.domain.errors import DomainError
from kmzb.errors import UnsupportedPygeoapi
from kmzb.providers import postgis, request_query
from kmzb.service import (
    asyncapi,
    conformance,
    csv_safety,
    faults,
    pages,
    plugin_locale,
    result_type,
)
from kmzb.service.query_checks import POLISH
from kmzb.service.responses import BILINGUAL, as_refusal, error_body

LOGGER = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("0.24.0",)
QUERY_RESET = "kmzb.request_query_reset"  # in the request's WSGI environ
PAGING_RESET = "kmzb.paging_reset"

# sha256 (first 16 hex digits) of the source of each pygeoapi function a patch relies
# on, as in pygeoapi 0.24.0; `fingerprint()` computes them
FINGERPRINTS = {
    "pygeoapi.crs:transform_bbox": "5d2c2b0ee8a1bd06",
    "pygeoapi.api.itemtypes:get_collection_items": "2eac86b14569f2c4",
    "pygeoapi.api.itemtypes:get_collection_item": "884bcb30becc7bea",
    "pygeoapi.l10n:get_plugin_locale": "7eaf239275f18f68",
    "pygeoapi.api.tiles:tilematrixsets": "804007dfc8fa607b",
    "pygeoapi.api.tiles:tilematrixset": "08dc9ad61325fd3f",
    "pygeoapi.util:render_j2_template": "15264cf5e143940c",
    "pygeoapi.api:API.get_exception": "67f0737657b72e4f",
    "pygeoapi.api.processes:execute_process": "6a6167efb302bb8d",
    "pygeoapi.formatter.csv_:CSVFormatter": "27321cc30204daef",
    "pygeoapi.api:conformance": "a1ea3978615c1369",
    "pygeoapi.api:API.__init__": "dc64a180ff6299e0",
    "pygeoapi.api.pubsub:publish_message": "3e2c3431e1a29017",
    "pygeoapi.pubsub.base:BasePubSubClient": "28488419c789b4a2",
    "pygeoapi.api.itemtypes:manage_collection_item": "bbaddb4976aee7bf",
    "pygeoapi.api.collection:gen_collection": "6af623218612990c",
}

# pygeoapi's refusals outside the collections, in Polish (query_checks has those)
PYGEOAPI_POLISH = {
    **POLISH,
    "Identifier not found": "Nie ma obiektu o tym identyfikatorze",
    "Process not found": "Nie ma takiego procesu",
    "Job not found": "Nie ma takiego zadania",
    "Invalid request data": "Błędne dane żądania",
    "Not a valid JSON": "To nie jest poprawny JSON",
}
POLISH_BY_STATUS = {
    404: "Nie ma takiego zasobu",
    405: "Ta metoda nie jest obsługiwana pod tym adresem",
    406: "Żądanego formatu nie ma",
}


@dataclass(frozen=True)
class Patch:
    name: str
    target: str  # "module:attribute" that the patch replaces or sets
    relies_on: tuple[str, ...]  # keys of FINGERPRINTS
    apply: Callable[[], None]


def resolve(path: str) -> Any:
    """The object at "module:attr.attr" (AttributeError/ImportError if there is none)."""
    module, _, attributes = path.partition(":")
    found: Any = importlib.import_module(module)
    for name in attributes.split(".") if attributes else ():
        found = getattr(found, name)
    return found


def fingerprint(path: str) -> str:
    """sha256 of the source of the stock object at `path`, also once it is patched."""
    found = resolve(path)
    found = getattr(found, "__wrapped__", found) if getattr(found, "kmzb_patch", None) else found
    return hashlib.sha256(inspect.getsource(found).encode("utf-8")).hexdigest()[:16]


def _wrap(original: Callable, replacement: Callable, name: str) -> Callable:
    replacement.__wrapped__ = original  # type: ignore[attr-defined]
    replacement.kmzb_patch = name  # type: ignore[attr-defined]
    return replacement


def _replace(path: str, name: str, make: Callable[[Callable], Callable]) -> None:
    """Set the attribute at `path` to make(original), once."""
    module, _, attributes = path.partition(":")
    *owner_path, attribute = attributes.split(".")
    owner: Any = importlib.import_module(module)
    for part in owner_path:
        owner = getattr(owner, part)
    original = getattr(owner, attribute)
    if getattr(original, "kmzb_patch", None) == name:
        return
    setattr(owner, attribute, _wrap(original, make(original), name))


# --- the patches ------------------------------------------------------------------------


def _identity_bbox_transform() -> None:
    def make(transform: Callable) -> Callable:
        def transform_bbox(bbox: list, from_crs: Any, to_crs: Any, always_xy: bool = False) -> Any:
            if str(from_crs) == str(to_crs):
                return bbox
            return transform(bbox, from_crs, to_crs, always_xy)

        return transform_bbox

    _replace("pygeoapi.api.itemtypes:transform_bbox", "identity-bbox-transform", make)


def _plugin_locale() -> None:
    def make(original: Callable) -> Callable:
        def get_plugin_locale(config: dict, requested_locale: Any) -> Any:
            return original(config, plugin_locale.accepted_languages(requested_locale))

        return get_plugin_locale

    _replace("pygeoapi.l10n:get_plugin_locale", "plugin-locale", make)


def _tilematrixset_templates() -> None:
    def make(render: Callable) -> Callable:
        def render_j2_template(
            config: dict, tpl_config: dict, template: Any, *args: Any, **kwargs: Any
        ) -> str:
            return render(
                config, pages.templates_config(config, tpl_config), template, *args, **kwargs
            )

        return render_j2_template

    _replace("pygeoapi.api.tiles:render_j2_template", "tilematrixset-templates", make)


def _error_answers() -> None:
    def make(_original: Callable) -> Callable:
        def get_exception(
            self: Any,
            status: int,
            headers: dict,
            format_: str | None,
            code: str,
            description: str,
        ) -> tuple[dict, int, str]:
            return error_answer(self, status, headers, format_, code, description)

        return get_exception

    _replace("pygeoapi.api:API.get_exception", "error-answers", make)


def _csv_formatter() -> None:
    import pygeoapi
    from pygeoapi.plugin import PLUGINS

    problem = csv_safety.guard_problem(pygeoapi.__version__, PLUGINS["formatter"].get("CSV"))
    if problem:
        raise UnsupportedPygeoapi(problem)
    PLUGINS["formatter"]["CSV"] = csv_safety.SAFE_FORMATTER


def _conformance_classes() -> None:
    from pygeoapi.api import itemtypes

    itemtypes.CONFORMANCE_CLASSES_FEATURES[:] = conformance.FEATURE_CLASSES


class AdvertisedBroker:
    """pygeoapi's `pubsub` client for a broker it only advertises: the URL (without
    credentials), channel and name its landing page and /asyncapi show, and no
    connection. `connect` and `pub` do nothing, so pygeoapi's publish_message (after
    each process execution, each transaction) sends nothing anywhere."""

    def __init__(self, publisher_def: dict) -> None:
        from pygeoapi.pubsub.base import BasePubSubClient

        self.base = BasePubSubClient(publisher_def)  # pygeoapi's parsing, no socket
        self.type = "mqtt"
        self.name = "MQTT"
        self.broker = self.base.broker
        self.broker_url = self.base.broker_url
        self.broker_safe_url = self.base.broker_safe_url
        self.hidden = self.base.hidden
        self.channel = self.base.channel
        self.client_id = self.base.client_id

    def connect(self) -> None:
        LOGGER.debug("pubsub: pygeoapi does not connect to %s", self.broker_safe_url)

    def pub(self, channel: str, message: str, qos: int = 1) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<AdvertisedBroker> {self.broker_safe_url}"


ADVERTISED_BROKER = f"{__name__}.AdvertisedBroker"


def _pubsub_advertise_only() -> None:
    from pygeoapi.plugin import PLUGINS

    for name in list(PLUGINS["pubsub"]):
        PLUGINS["pubsub"][name] = ADVERTISED_BROKER


def _pubsub_no_message() -> None:
    def make(original: Callable) -> Callable:
        def publish_message(
            pubsub_client: Any,
            url: str,
            action: str,
            resource: str | None = None,
            item: str | None = None,
            data: Any = None,
        ) -> Any:
            if isinstance(pubsub_client, AdvertisedBroker):
                return None  # it would send nothing: build nothing
            return original(pubsub_client, url, action, resource, item, data)

        return publish_message

    # both callers import it by name
    _replace("pygeoapi.api.processes:publish_message", "pubsub-no-message", make)
    _replace("pygeoapi.api.itemtypes:publish_message", "pubsub-no-message", make)


def _pubsub_collection_links() -> None:
    def make(original: Callable) -> Callable:
        def gen_collection(api: Any, request: Any, dataset: str, locale_: Any) -> dict:
            collection = original(api, request, dataset, locale_)
            client = api.pubsub_client
            if client is not None and not client.hidden:
                link = asyncapi.collection_link(dataset, client.broker_safe_url, str(locale_))
                if link is not None:
                    collection.setdefault("links", []).append(link)
            return collection

        return gen_collection

    _replace("pygeoapi.api:gen_collection", "pubsub-collection-links", make)


def check_pubsub_client(api: Any) -> None:
    """Refuse to start if pygeoapi's API object got a pubsub client that connects."""
    client = getattr(api, "pubsub_client", None)
    if client is not None and not isinstance(client, AdvertisedBroker):
        raise UnsupportedPygeoapi(
            f"patch pubsub-advertise-only: pygeoapi's pubsub client is {type(client).__name__}"
            ", which would connect to the broker; the patch must be applied before "
            "pygeoapi.flask_app is imported"
        )


def _request_hooks() -> None:
    """Request hooks, not patches of pygeoapi: installed by `install` on our app."""


PATCHES = (
    Patch(
        "identity-bbox-transform",
        "pygeoapi.api.itemtypes:transform_bbox",
        ("pygeoapi.crs:transform_bbox", "pygeoapi.api.itemtypes:get_collection_items"),
        _identity_bbox_transform,
    ),
    Patch(
        "plugin-locale",
        "pygeoapi.l10n:get_plugin_locale",
        ("pygeoapi.l10n:get_plugin_locale",),
        _plugin_locale,
    ),
    Patch(
        "tilematrixset-templates",
        "pygeoapi.api.tiles:render_j2_template",
        (
            "pygeoapi.api.tiles:tilematrixsets",
            "pygeoapi.api.tiles:tilematrixset",
            "pygeoapi.util:render_j2_template",
        ),
        _tilematrixset_templates,
    ),
    Patch(
        "error-answers",
        "pygeoapi.api:API.get_exception",
        ("pygeoapi.api:API.get_exception", "pygeoapi.api.processes:execute_process"),
        _error_answers,
    ),
    Patch(
        "csv-formatter",
        "pygeoapi.plugin:PLUGINS",
        ("pygeoapi.formatter.csv_:CSVFormatter",),
        _csv_formatter,
    ),
    Patch(
        "conformance-classes",
        "pygeoapi.api.itemtypes:CONFORMANCE_CLASSES_FEATURES",
        ("pygeoapi.api:conformance",),
        _conformance_classes,
    ),
    Patch(
        "pubsub-advertise-only",
        "pygeoapi.plugin:PLUGINS",
        (
            "pygeoapi.api:API.__init__",
            "pygeoapi.api.pubsub:publish_message",
            "pygeoapi.pubsub.base:BasePubSubClient",
            "pygeoapi.api.processes:execute_process",
            "pygeoapi.api.itemtypes:manage_collection_item",
        ),
        _pubsub_advertise_only,
    ),
    Patch(
        "pubsub-no-message",
        "pygeoapi.api.processes:publish_message",
        (
            "pygeoapi.api.pubsub:publish_message",
            "pygeoapi.api.processes:execute_process",
            "pygeoapi.api.itemtypes:manage_collection_item",
        ),
        _pubsub_no_message,
    ),
    Patch(
        "pubsub-collection-links",
        "pygeoapi.api:gen_collection",
        ("pygeoapi.api.collection:gen_collection",),
        _pubsub_collection_links,
    ),
    Patch(
        "result-type-alias",
        "pygeoapi.api.itemtypes:get_collection_items",
        ("pygeoapi.api.itemtypes:get_collection_items",),
        _request_hooks,
    ),
    Patch(
        "keyset-next-link",
        "pygeoapi.api.itemtypes:get_collection_items",
        ("pygeoapi.api.itemtypes:get_collection_items",),
        _request_hooks,
    ),
    Patch(
        "request-query",
        "pygeoapi.api.itemtypes:get_collection_item",
        (
            "pygeoapi.api.itemtypes:get_collection_items",
            "pygeoapi.api.itemtypes:get_collection_item",
        ),
        _request_hooks,
    ),
)


def guard_problems(
    version: str,
    patches: tuple[Patch, ...] = PATCHES,
    fingerprints: dict[str, str] = FINGERPRINTS,
) -> list[str]:
    """What keeps the patches from this pygeoapi (empty: they all fit)."""
    if version not in SUPPORTED_VERSIONS:
        return [
            f"pygeoapi {version} is installed; kmzb.service.pygeoapi_adapter's patches are "
            f"written for pygeoapi {', '.join(SUPPORTED_VERSIONS)} (pinned in pyproject.toml)"
        ]
    problems = []
    for patch in patches:
        try:
            resolve(patch.target)
        except (ImportError, AttributeError):
            problems.append(f"patch {patch.name}: pygeoapi has no {patch.target}")
        for path in patch.relies_on:
            try:
                found = fingerprint(path)
            except (ImportError, AttributeError, OSError, TypeError):
                problems.append(f"patch {patch.name}: pygeoapi has no {path}")
                continue
            if found != fingerprints.get(path):
                problems.append(
                    f"patch {patch.name}: {path} has changed (source sha256 {found}, "
                    f"written for {fingerprints.get(path)})"
                )
    return problems


def check() -> None:
    """Refuse (UnsupportedPygeoapi) a pygeoapi the patches do not fit."""
    import pygeoapi

    problems = guard_problems(pygeoapi.__version__)
    if problems:
        raise UnsupportedPygeoapi(
            "; ".join(problems) + ". Check each patch against this pygeoapi, then update "
            "SUPPORTED_VERSIONS and FINGERPRINTS in kmzb/service/pygeoapi_adapter.py."
        )


def apply_patches() -> None:
    check()
    for patch in PATCHES:
        patch.apply()


# --- pygeoapi's error answers -----------------------------------------------------------


def pygeoapi_polish(description: str, status: int) -> str:
    if description in PYGEOAPI_POLISH:
        return PYGEOAPI_POLISH[description]
    if int(status) >= 500:
        return "Błąd wewnętrzny usługi."
    return POLISH_BY_STATUS.get(int(status), "Błędne zapytanie")


def error_of(
    handled: BaseException | None, status: int, code: str, description: str
) -> tuple[DomainError, BaseException | None]:
    """The DomainError to answer with, and the database fault behind it (or None)."""
    from kmzb.processes.manager import DomainProcessError

    fault = faults.database_unavailable_cause(handled)
    if fault is not None:
        return faults.unavailable(), fault
    if isinstance(handled, DomainProcessError):
        return as_refusal(handled.error), None
    en = str(description)
    pl = getattr(handled, "pl", None)
    if not (isinstance(pl, str) and getattr(handled, "en", None) == en):
        pl = pygeoapi_polish(en, status)
    return DomainError(pl=pl, en=en, status=HTTPStatus(int(status)), code=code), None


def error_answer(
    api: Any, status: int, headers: dict, format_: str | None, code: str, description: str
) -> tuple[dict, int, str]:
    """pygeoapi 0.24's API.get_exception, ours: see the module's docstring."""
    from pygeoapi.api import F_HTML, FORMAT_TYPES, SYSTEM_LOCALE
    from pygeoapi.util import render_j2_template

    from kmzb.service.security import is_submission

    handled = sys.exc_info()[1]
    error, fault = error_of(handled, status, code, description)
    status = int(error.status)
    if fault is not None:
        faults.mark_database_unavailable()
        faults.log_unavailable(fault)
    elif status < 500:
        faults.log_client_error(status, error.en)
    else:
        faults.log_server_error(status, error.en, handled)
    headers.update(error.headers)
    body = error_body(error, has_request_context() and is_submission())
    if format_ == F_HTML:
        headers["Content-Type"] = FORMAT_TYPES[F_HTML]
        content = render_j2_template(
            api.tpl_config,
            api.config["server"]["templates"],
            "exception.html",
            body,
            SYSTEM_LOCALE,
        )
    else:
        headers["Content-Language"] = BILINGUAL
        content = json.dumps(body, ensure_ascii=False, indent=4 if api.pretty_print else None)
    if status == HTTPStatus.NO_CONTENT:
        content = ""
    return headers, status, content


# --- the Flask app ------------------------------------------------------------------------


class KmzbFlask(Flask):
    """Flask, asking once per function whether it is a coroutine function: Flask asks
    for every hook and view of every request (15 on a submission, 1 % of its CPU)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            found = self._sync[func] = super().ensure_sync(func)
            return found
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)


def create_flask_app() -> Flask:
    """Our Flask app with pygeoapi's blueprint (and its admin one, if configured) mounted:
    pygeoapi's static files at /static, its strict_slashes rule, its JSON settings, CORS
    if configured. pygeoapi.flask_app still builds its own APP on import; it is not used."""
    _pubsub_advertise_only()  # before pygeoapi's API object loads its pubsub client
    from pygeoapi import flask_app as upstream

    check_pubsub_client(upstream.api_)
    server = upstream.CONFIG["server"]
    static = upstream.STATIC_FOLDER
    if not os.path.isabs(static):
        static = os.path.join(os.path.dirname(upstream.__file__), static)
    app = KmzbFlask("kmzb", static_folder=static, static_url_path="/static")
    app.url_map.strict_slashes = upstream.API_RULES.strict_slashes
    app.config["JSONIFY_PRETTYPRINT_REGULAR"] = server.get("pretty_print", True)
    if server.get("cors", False):
        from flask_cors import CORS

        CORS(app, expose_headers="*")
    app.register_blueprint(upstream.BLUEPRINT)
    if server.get("admin"):
        app.register_blueprint(upstream.ADMIN_BLUEPRINT)
    return app


def alias_result_type() -> None:
    """`resultType` on items, as pygeoapi's `resulttype` (before the query checks)."""
    if "resultType" in request.args and result_type.ITEMS.match(request.path):
        args = MultiDict(request.args)
        value = args.pop("resultType")
        args.setdefault("resulttype", value)
        request.args = ImmutableMultiDict(args)


def set_request_query() -> None:
    request.environ[QUERY_RESET] = request_query.current.set(
        request_query.RequestQuery.from_args(request.args)
    )


def reset_request_query(_exc: BaseException | None) -> None:
    reset = request.environ.pop(QUERY_RESET, None)
    if reset is not None:
        request_query.current.reset(reset)
    reset = request.environ.pop(PAGING_RESET, None)
    if reset is not None:
        postgis.paging.reset(reset)


def next_link_base(collection_id: str, args: MultiDict) -> str:
    """The `next` link up to the cursor's value: pygeoapi's items URL (from its
    configured server URL) with the request's parameters but offset and cursor,
    quoted as pygeoapi quotes them."""
    from pygeoapi.flask_app import api_

    kept = "".join(
        f"{quote(name, safe='')}={quote(str(value), safe=',')}&"
        for name, value in args.items(multi=True)
        if name not in ("offset", "cursor")
    )
    return f"{api_.get_collections_url()}/{collection_id}/items?{kept}cursor="


def set_paging() -> None:
    """`cursor` on items: taken out of the query (pygeoapi does not know it; the query
    checks would refuse it as unknown) and set, with the next link's base, for the
    provider (kmzb.providers.postgis.paging)."""
    if not result_type.ITEMS.match(request.path):
        return
    args = MultiDict(request.args)
    cursors = tuple(args.poplist("cursor"))
    if cursors:
        request.args = ImmutableMultiDict(args)
    collection_id = request.path.strip("/").split("/")[1]
    state = postgis.Paging(cursors=cursors, next_href=next_link_base(collection_id, args))
    request.environ[PAGING_RESET] = postgis.paging.set(state)


def install(app: Flask) -> None:
    """Patch pygeoapi (after the guard) and hook the request: the resultType alias, the
    query a provider reads and the keyset cursor. Call before the query checks are installed."""
    apply_patches()
    app.before_request(alias_result_type)
    app.before_request(set_request_query)
    app.before_request(set_paging)
    app.teardown_request(reset_request_query)


def create_app() -> Flask:
    """pygeoapi mounted on our app, patched and hooked; the caller adds the rest."""
    check()
    app = create_flask_app()
    install(app)
    return app
