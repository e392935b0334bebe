"""Copy the OGC schema files the OpenAPI document refers to, from local clones.

Run by hand when pygeoapi starts to refer to another remote schema (the test
tests/test_openapi.py fails then, naming the URL):

    .venv/bin/python openapi/ogc/vendor.py URL... --clones DIR

DIR holds one bare clone per OGC repository, as DIR/<owner>+<name>/repo
(e.g. opengeospatial+ogcapi-features/repo: `git clone --bare` of its GitHub
repository); README.md here names the repositories and commits.

Each file is stored under its URL's host and path (schemas.opengis.net/...,
raw.githubusercontent.com/...), unmodified, together with every file it refers to
in turn; SOURCES maps the published URLs to the repository, branch and folder that
hold the same files (the schemas.opengis.net tree is laid out differently).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import yaml

HERE = Path(__file__).resolve().parent

# published URL prefix -> (clone folder name, git revision, path prefix in the repository)
SOURCES = {
    "https://schemas.opengis.net/ogcapi/features/part1/1.0/openapi/": (
        "opengeospatial+ogcapi-features",
        "master",
        "core/openapi/",
    ),
    "https://schemas.opengis.net/cql2/1.0/": (
        "opengeospatial+ogcapi-features",
        "master",
        "cql2/standard/schema/",
    ),
    "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi/": (
        "opengeospatial+ogcapi-processes",
        "1.0.0-maintenance",
        "core/openapi/",
    ),
    "https://schemas.opengis.net/ogcapi/tiles/part1/1.0/openapi/": (
        "opengeospatial+ogcapi-tiles",
        "master",
        "openapi/",
    ),
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/master/": (
        "opengeospatial+ogcapi-records",
        "master",
        "",
    ),
}


def local_path(url: str) -> Path:
    """Where a remote file is kept: openapi/ogc/<host>/<path>."""
    return HERE / url.split("://", 1)[1]


def read_remote(url: str, clones: Path) -> str:
    for prefix, (clone, revision, folder) in SOURCES.items():
        if url.startswith(prefix):
            path = folder + url[len(prefix) :]
            return subprocess.run(
                ["git", "-C", str(clones / clone / "repo"), "show", f"{revision}:{path}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
    raise SystemExit(f"no source known for {url}: add it to SOURCES")


def references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(references(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(references(value))
    return found


def pointer(document: object, fragment: str) -> object:
    """The node a JSON pointer (RFC 6901) names in a document."""
    node = document
    for part in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def vendor(urls: list[str], clones: Path) -> list[str]:
    """Copy each file holding a node the URLs reach, following references from those
    nodes only (a fragment pulls in what it needs, not the whole file's neighbours)."""
    pending, seen, files = list(urls), set(), {}
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        file_url, fragment = urldefrag(url)
        if file_url not in files:
            text = read_remote(file_url, clones)
            target = local_path(file_url)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            files[file_url] = (
                json.loads(text) if file_url.endswith(".json") else yaml.safe_load(text)
            )
        for ref in references(pointer(files[file_url], fragment)):
            if ref.startswith("#") and not ref.startswith("#/"):
                ref = "#"  # a $dynamicRef to an anchor of the root (cql2.json)
            pending.append(urljoin(file_url, ref))
    return sorted(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+")
    parser.add_argument(
        "--clones",
        type=Path,
        required=True,
        help="folder of bare clones, DIR/<owner>+<name>/repo (one per OGC repository)",
    )
    args = parser.parse_args()
    for url in vendor(args.urls, args.clones):
        print(url, file=sys.stdout)


if __name__ == "__main__":
    main()
