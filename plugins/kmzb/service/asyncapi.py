"""Publish-Subscribe advertised the OGC way: the AsyncAPI 3.0 document and the pubsub
links of the collections that have alerts (issue 14).

pygeoapi's `gen_asyncapi(cfg)` gives the document's frame (info, licence, contact,
the server from the configuration's `pubsub:` broker URL). Its channels are one
generic `<channel>/collections/<name>` per collection, with a payload schema by
remote URL: they are replaced here by the channels KMZB publishes on
(`kmzb/threats/{wojewodztwo}/{powiat}/{gmina}/{category}` and
`kmzb/statistics/crime-rates/{year}`), their parameters (patterns; the categories
from the vocabulary), receive-only operations (only the service publishes, through
kmzb.alerts_publisher, never pygeoapi) and the message schema: the CloudEvents 1.0
envelope with a GeoJSON Feature `data`, as JSON Schema with its required fields.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kmzb.domain.feeds import teryt_pattern
from kmzb.domain.vocabulary import Vocabulary

THREATS_CHANNEL = "kmzb/threats/{wojewodztwo}/{powiat}/{gmina}/{category}"
STATISTICS_CHANNEL = "kmzb/statistics/crime-rates/{year}"

# the collections whose changes are published, and the topic filter that follows them
COLLECTION_TOPICS = {
    "threats": "kmzb/threats/#",
    "crime-rates": "kmzb/statistics/crime-rates/#",
}
COLLECTION_TOPIC_TITLES = {
    "threats": {
        "pl": "Powiadomienia MQTT o zmianach publicznych zgłoszeń (temat {topic})",
        "en": "MQTT notifications of changes to public reports (topic {topic})",
    },
    "crime-rates": {
        "pl": "Powiadomienia MQTT o nowych danych statystyki przestępczości (temat {topic})",
        "en": "MQTT notifications of new crime-statistics data (topic {topic})",
    },
}

THREAT_EVENT_TYPES = (
    "pl.kmzb.threat.published",
    "pl.kmzb.threat.status-changed",
    "pl.kmzb.threat.withdrawn",
)
STATISTICS_EVENT_TYPE = "pl.kmzb.statistics.updated"

WOJEWODZTWO_PATTERN = teryt_pattern("wojewodztwo")
POWIAT_PATTERN = teryt_pattern("powiat")
GMINA_PATTERN = teryt_pattern("gmina")


def collection_link(collection: str, broker_url: str, locale: str) -> dict[str, Any] | None:
    """The pubsub link of a collection (OGC API - EDR Part 2 /per/pubsub/links, as the
    draft OGC API - Publish-Subscribe keeps it): the broker as href, the topic filter
    as `channel`; None for a collection that has no alerts."""
    topic = COLLECTION_TOPICS.get(collection)
    if topic is None:
        return None
    titles = COLLECTION_TOPIC_TITLES[collection]
    title = titles.get(locale[:2] if locale else "pl", titles["pl"])
    return {
        "rel": "items",
        "type": "application/json",
        "title": title.format(topic=topic),
        "href": broker_url,
        "channel": topic,
    }


def _name() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["pl", "en"],
        "properties": {"pl": {"type": "string"}, "en": {"type": "string"}},
        "additionalProperties": False,
    }


def _unit(code: str, pattern: str | None) -> dict[str, Any]:
    code_schema: dict[str, Any] = {"type": "string"}
    if pattern:
        code_schema["pattern"] = pattern
    return {
        "type": "object",
        "required": [code, "name"],
        "properties": {code: code_schema, "name": {"type": "string"}},
    }


def _link(rel: str, media_type: str, href_pattern: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["rel", "href", "type"],
        "properties": {
            "rel": {"const": rel},
            "type": {"const": media_type},
            "href": {"type": "string", "format": "uri", "pattern": href_pattern},
        },
    }


def threat_feature_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """The GeoJSON Feature a threat event carries in `data`, as agreed (issue 14)."""
    reference = vocabulary.limits.reference_pattern
    categories = vocabulary.category_codes
    statuses = [s.code for s in vocabulary.statuses if s.is_public]
    return {
        "type": "object",
        "required": ["type", "id", "geometry", "properties", "links"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string", "pattern": reference},
            "geometry": {
                "type": "object",
                "description": "Point, longitude and latitude in CRS84, 5 decimals",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"const": "Point"},
                    "coordinates": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": [
                            {"type": "number", "minimum": -180, "maximum": 180},
                            {"type": "number", "minimum": -90, "maximum": 90},
                        ],
                        "additionalItems": False,
                    },
                },
            },
            "properties": {
                "type": "object",
                "required": [
                    "reference",
                    "category",
                    "category_name",
                    "status",
                    "status_name",
                    "gmina",
                    "powiat",
                    "wojewodztwo",
                    "police_unit",
                    "changed_at",
                ],
                "properties": {
                    "reference": {"type": "string", "pattern": reference},
                    "category": {"type": "string", "enum": categories},
                    "category_name": _name(),
                    "status": {
                        "type": "string",
                        "enum": statuses,
                        "description": "the public status; for a withdrawn report the "
                        "last public one",
                    },
                    "status_name": _name(),
                    "gmina": _unit("teryt", GMINA_PATTERN),
                    "powiat": _unit("teryt", POWIAT_PATTERN),
                    "wojewodztwo": _unit("teryt", WOJEWODZTWO_PATTERN),
                    "police_unit": _unit("code", None),
                    "changed_at": {"type": "string", "format": "date-time"},
                },
            },
            "links": {
                "type": "array",
                "minItems": 3,
                "items": {"type": "object", "required": ["rel", "href", "type"]},
                "allOf": [
                    {
                        "contains": _link(
                            "self", "application/geo+json", "/collections/threats/items/"
                        )
                    },
                    {"contains": _link("alternate", "application/json", "/reports/[^/]+$")},
                    {
                        "contains": _link(
                            "alternate", "application/atom+xml", "/reports/[^/]+/feed\\.atom$"
                        )
                    },
                ],
            },
        },
    }


def statistics_feature_schema() -> dict[str, Any]:
    """The `data` of a statistics event: a Feature without geometry naming the year."""
    return {
        "type": "object",
        "required": ["type", "id", "properties", "links"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string"},
            "geometry": {"type": "null"},
            "properties": {
                "type": "object",
                "required": ["year", "changed_at"],
                "properties": {
                    "year": {"type": "integer", "minimum": 1990, "maximum": 2100},
                    "units": {"type": "integer", "minimum": 0},
                    "changed_at": {"type": "string", "format": "date-time"},
                },
            },
            "links": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "object", "required": ["rel", "href", "type"]},
            },
        },
    }


def envelope_schema(
    event_types: Iterable[str], data: dict[str, Any], content_type: str | None
) -> dict[str, Any]:
    """A CloudEvents 1.0 structured-mode JSON envelope around `data`."""
    return {
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "pattern": "^[0-9a-f-]{36}$"},
            "source": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "type": {"type": "string", "enum": list(event_types)},
            "subject": {"type": "string", "minLength": 1},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": ({"const": content_type} if content_type else {"type": "string"}),
            "data": data,
        },
    }


def document(cfg: dict[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: pygeoapi's, with KMZB's channels, operations, messages."""
    from pygeoapi.asyncapi import gen_asyncapi

    cfg = copy.deepcopy(cfg)
    contact = cfg["metadata"]["contact"]
    contact.setdefault("email", "")
    contact.setdefault("url", cfg["metadata"].get("provider", {}).get("url", ""))
    doc = gen_asyncapi(cfg)
    if not doc["info"]["contact"].get("email"):
        doc["info"]["contact"].pop("email", None)
    server = doc["servers"].pop("default")
    server["description"] = (
        "The public MQTT broker: anonymous clients subscribe to kmzb/#; only the service "
        "publishes. / Publiczny broker MQTT: każdy może subskrybować kmzb/# bez konta; "
        "publikuje tylko usługa."
    )
    doc["servers"] = {"kmzb": server}
    server_ref = [{"$ref": "#/servers/kmzb"}]
    doc["channels"] = {
        "threats": {
            "address": THREATS_CHANNEL,
            "title": "Zagrożenia / Threats",
            "description": "One message each time a report becomes public, changes its "
            "public status or leaves the public view. Filter by area with wildcards, e.g. "
            "kmzb/threats/12/1261/# (a powiat) or kmzb/threats/+/+/1261011/# (a gmina).",
            "servers": server_ref,
            "parameters": {
                "wojewodztwo": {
                    "description": "the voivodeship's 2-digit TERYT code",
                    "examples": ["12"],
                },
                "powiat": {
                    "description": "the county's 4-digit TERYT code",
                    "examples": ["1261"],
                },
                "gmina": {
                    "description": "the commune's 7-digit TERYT code",
                    "examples": ["1261011"],
                },
                "category": {
                    "description": "the threat category's code (the vocabulary's, "
                    "collections/threat-categories)",
                    "enum": vocabulary.category_codes,
                },
            },
            "messages": {"threatEvent": {"$ref": "#/components/messages/threatEvent"}},
        },
        "crimeRates": {
            "address": STATISTICS_CHANNEL,
            "title": "Statystyka przestępczości / Crime statistics",
            "description": "One message for each year of crime statistics loaded.",
            "servers": server_ref,
            "parameters": {
                "year": {"description": "the year of the data (4 digits)", "examples": ["2024"]}
            },
            "messages": {"statisticsEvent": {"$ref": "#/components/messages/statisticsEvent"}},
        },
    }
    doc["operations"] = {
        "receiveThreatEvents": {
            "action": "receive",
            "title": "Subscribe to threat changes / Obserwuj zmiany zgłoszeń",
            "channel": {"$ref": "#/channels/threats"},
            "messages": [{"$ref": "#/channels/threats/messages/threatEvent"}],
        },
        "receiveStatisticsEvents": {
            "action": "receive",
            "title": "Subscribe to crime-statistics updates",
            "channel": {"$ref": "#/channels/crimeRates"},
            "messages": [{"$ref": "#/channels/crimeRates/messages/statisticsEvent"}],
        },
    }
    doc["components"] = {
        "schemas": {
            "ThreatEvent": envelope_schema(
                THREAT_EVENT_TYPES,
                threat_feature_schema(vocabulary),
                "application/geo+json",
            ),
            "StatisticsEvent": envelope_schema(
                (STATISTICS_EVENT_TYPE,), statistics_feature_schema(), "application/geo+json"
            ),
        },
        "messages": {
            "threatEvent": {
                "name": "threatEvent",
                "title": "A public report changed",
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": "#/components/schemas/ThreatEvent"},
            },
            "statisticsEvent": {
                "name": "statisticsEvent",
                "title": "Crime statistics updated",
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": "#/components/schemas/StatisticsEvent"},
            },
        },
    }
    return doc


def write(config: Path, target: Path, vocabulary: Vocabulary) -> Path:
    """Write the document as YAML (pygeoapi loads a .yml one as a dict), atomically."""
    from pygeoapi.util import yaml_load

    with config.open(encoding="utf-8") as fh:
        cfg = yaml_load(fh)
    text = yaml.safe_dump(document(cfg, vocabulary), allow_unicode=True, sort_keys=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
