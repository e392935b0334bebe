"""Packaging hook: a wheel carries the service's files under kmzb/share/.

pyproject.toml holds the metadata; this only extends setuptools' build_py so
that a non-editable install (`pip install .`, the docker image) finds its
configuration, migrations, QGIS project and plugin, web build and shipped data
beside the code (kmzb.settings.BUNDLED_SHARE), never in a checkout.

An editable install (`pip install -e .`, what bootstrap does) copies nothing:
the code runs from the checkout, where settings find these files in place.
The QGIS plugin's verifier.py is a symbolic link to kmzb/auth/verifier.py in
the checkout; the wheel carries its content (LINKED, checked at build time).
web/dist is git-ignored and built by bootstrap: whatever it holds at build time
is copied; a build without it says so and the wheel serves no web page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

# (source in the checkout, destination under kmzb/share, required)
SHARED = [
    ("pygeoapi-config.yml", "pygeoapi-config.yml", True),
    ("basemaps.yml", "basemaps.yml", True),
    ("sql", "sql", True),
    ("qgis_projects", "qgis_projects", True),
    ("plugins/qgis_server", "plugins/qgis_server", True),
    ("data", "data", True),
    ("web/pygeoapi", "web/pygeoapi", True),  # pygeoapi's own HTML templates, vendored
    ("openapi", "openapi", True),  # OGC schemas bundled into the OpenAPI document
    ("web/dist", "web/dist", False),
]
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp", ".kmzb-build")
# Files the checkout links rather than copies (one source, two import paths): the
# bundle holds their content, checked equal to the source's.
# (bundled copy under kmzb/share, the file it links to)
LINKED = [
    ("plugins/qgis_server/kmzb_access/verifier.py", "plugins/kmzb/auth/verifier.py"),
]


class build_py_with_share(build_py):  # noqa: N801 (setuptools' naming)
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        share = Path(self.build_lib) / "kmzb" / "share"
        if share.exists():
            shutil.rmtree(share)  # no stale files from an earlier build
        for source, target, required in SHARED:
            path = ROOT / source
            if not path.exists():
                if required:
                    raise FileNotFoundError(f"kmzb packaging: {source} is missing")
                self.announce(f"kmzb packaging: {source} is missing, not bundled", level=3)
                continue
            destination = share / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, destination, ignore=SKIPPED)
            else:
                shutil.copy2(path, destination)
        for bundled, source in LINKED:  # copytree copied the links' content
            copy = share / bundled
            if copy.is_symlink() or copy.read_bytes() != (ROOT / source).read_bytes():
                raise RuntimeError(f"kmzb packaging: {bundled} is not a copy of {source}")


setup(cmdclass={"build_py": build_py_with_share})
