"""nginx in front of the real app and the real QGIS Server (FastCGI), on the shipped rules.

Debian's nginx runs as a subprocess (`-p <tmp> -c <conf> -g 'daemon off;'`) on free
loopback ports, with a configuration that includes docker/nginx/kmzb-http.conf,
kmzb-locations.conf and kmzb-ows.conf unchanged, the files the docker site
(docker/nginx/kmzb.conf) includes. Only the site-specific lines differ: upstream
addresses, cache and log paths, `set_real_ip_from 127.0.0.1` (the test client plays
the load balancer) and plain HTTP beside TLS. QGIS Server runs as in the docker
image: `spawn-fcgi -n -- multiwatch -f 2 -- qgis_mapserv.fcgi`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import free_port, running_app
from kmzb.db import connection
from kmzb.settings import PROJECT_ROOT, Settings

NGINX_DIR = PROJECT_ROOT / "docker" / "nginx"
SHARED = ("kmzb-http.conf", "kmzb-locations.conf", "kmzb-ows.conf")
QGIS_FCGI = "/usr/lib/cgi-bin/qgis_mapserv.fcgi"
KRAKOW = {"lon": 19.9383, "lat": 50.0614}
SUBMIT = "/processes/submit-threat/execution"
ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b", re.I)


def wait_for(url: str, process: subprocess.Popen, seconds: float, **kwargs) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited during start-up")
        try:
            answer = requests.get(url, timeout=30, **kwargs)
            if answer.status_code == 200:
                return answer
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Probe:
    """A listener an SLD URL names: it counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            client.close()


@pytest.fixture(scope="module")
def qgis_fcgi(server: Settings, db_url: str, tmp_path_factory) -> Iterator[dict]:
    """QGIS Server as the docker image runs it: FastCGI, two processes, one socket."""
    from kmzb import qgis_launcher

    folder = tmp_path_factory.mktemp("qgis-fcgi")
    service_file = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(db_url)
    )
    env = qgis_launcher.environment(service_file, folder / "runtime")
    port = free_port()
    log = (folder / "qgis.log").open("wb")
    process = subprocess.Popen(
        [
            shutil.which("spawn-fcgi") or "spawn-fcgi",
            "-n",
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "--",
            shutil.which("multiwatch") or "multiwatch",
            "-f",
            "2",
            "--",
            QGIS_FCGI,
        ],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError("spawn-fcgi did not start: " + (folder / "qgis.log").read_text())
        time.sleep(0.1)
    yield {"port": port, "service_file": service_file}
    stop(process)
    log.close()


def site_config(
    prefix: Path, api_port: int, qgis_port: int, http: int, tls: int, service_file: Path
) -> str:
    shared = {name: NGINX_DIR / name for name in SHARED}
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must enter pytest's 0700 tmp
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
error_log {prefix / "error.log"} info;
pid {prefix / "nginx.pid"};
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
{temp}
    include {shared["kmzb-http.conf"]};
    upstream kmzb_api {{ server 127.0.0.1:{api_port}; keepalive 4; }}
    upstream kmzb_qgis {{ server 127.0.0.1:{qgis_port}; keepalive 2; }}
    map $host $kmzb_pg_service_file {{ default {service_file}; }}
    proxy_cache_path {prefix / "cache"} levels=1:2 keys_zone=kmzb_cache:4m
                     max_size=64m inactive=10m use_temp_path=off;
    server {{
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{tls} ssl;
        ssl_certificate {prefix / "certs" / "fullchain.pem"};
        ssl_certificate_key {prefix / "certs" / "privkey.pem"};
        set_real_ip_from 127.0.0.1;
        access_log {prefix / "access.log"} kmzb;
        include {shared["kmzb-locations.conf"]};
        include {shared["kmzb-ows.conf"]};
    }}
}}
"""


@pytest.fixture(scope="module")
def front(db_url: str, server: Settings, qgis_fcgi: dict, tmp_path_factory) -> Iterator[dict]:
    """nginx on the shipped rules, in front of the real app; the app's /wms goes back
    through nginx's /ows to QGIS Server, as in the docker set-up."""
    prefix = tmp_path_factory.mktemp("nginx")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / kind).mkdir(parents=True)
    (prefix / "cache").mkdir()
    subprocess.run(
        [str(NGINX_DIR / "make-self-signed-cert.sh"), str(prefix / "certs"), "127.0.0.1"],
        check=True,
        capture_output=True,
    )
    http, tls = free_port(), free_port()
    app_env = {"KMZB_WMS_URL": f"http://127.0.0.1:{http}/ows/"}
    with running_app(db_url, server, prefix / "openapi.yml", app_env) as api:
        api_port = int(api.rsplit(":", 1)[1])
        conf = prefix / "nginx.conf"
        conf.write_text(
            site_config(prefix, api_port, qgis_fcgi["port"], http, tls, qgis_fcgi["service_file"])
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        test = subprocess.run(
            [nginx, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True
        )
        assert test.returncode == 0, test.stderr
        stdout = (prefix / "stdout.log").open("wb")
        stderr = (prefix / "stderr.log").open("wb")
        process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=stdout,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{http}"
        try:
            wait_for(f"{base}/", process, 30)
            yield {
                "base": base,
                "tls": f"https://127.0.0.1:{tls}",
                "api": api,
                "prefix": prefix,
                "cert": str(prefix / "certs" / "fullchain.pem"),
            }
        finally:
            stop(process)
            stdout.close()
            stderr.close()


def log_lines(front: dict, name: str) -> list[str]:
    time.sleep(0.2)  # nginx writes the line once the answer is sent
    return (front["prefix"] / name).read_text(encoding="utf-8").splitlines()


def submit(base: str, address: str, description: str) -> requests.Response:
    return requests.post(
        f"{base}{SUBMIT}",
        json={"inputs": {**KRAKOW, "category": "vandalism", "description": description}},
        headers={"X-Forwarded-For": address},
        timeout=60,
    )


def count_reports(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]


def test_sld_and_sld_body_are_refused_before_any_upstream(front: dict) -> None:
    base = front["base"]
    probe = Probe()
    sld_url = f"http://127.0.0.1:{probe.port}/style.sld"
    getmap = (
        "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=wojewodztwa&CRS=EPSG:2180"
        "&BBOX=100000,100000,900000,900000&WIDTH=64&HEIGHT=64&FORMAT=image/png"
    )
    queries = [
        f"{getmap}&SLD={sld_url}",
        f"{getmap}&sld={sld_url}",
        f"{getmap}&%53LD={sld_url}",
        f"{getmap}&SLD_BODY=%3CStyledLayerDescriptor/%3E",
        f"{getmap}&Sld_Body=%3CStyledLayerDescriptor/%3E",
        f"SLD={sld_url}&{getmap}",
    ]
    for path in ("/wms", "/ows/", "/ows"):
        for query in queries:
            answer = requests.get(f"{base}{path}?{query}", timeout=30)
            assert answer.status_code == 400, (path, query, answer.text)
            body = answer.json()
            assert body["code"] == "InvalidParameterValue"
            assert "SLD" in body["description"] and "nie są przyjmowane" in body["message"]["pl"]
    refused = [line for line in log_lines(front, "access.log") if "SLD" in line.upper()]
    assert len(refused) == 3 * len(queries)
    assert all(" 400 " in line and "upstream=- " in line for line in refused), refused
    assert probe.connections == 0

    # a POST could carry SLD in its body: /ows and /wms take GET only
    posted = requests.post(f"{base}/ows/", data={"SLD": sld_url, "REQUEST": "GetMap"}, timeout=30)
    assert posted.status_code == 405

    # names that merely contain the letters pass: the same map, drawn by QGIS Server
    # through FastCGI, directly (/ows) and through the app's proxy (/wms)
    for path in ("/ows/", "/wms"):
        drawn = requests.get(f"{base}{path}?{getmap}&STYLES=&XSLD=1", timeout=120)
        assert drawn.status_code == 200, (path, drawn.text[:500])
        assert drawn.headers["Content-Type"].startswith("image/png")
    capabilities = requests.get(
        f"{base}/ows/", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, timeout=60
    )
    assert capabilities.status_code == 200 and b"WMS_Capabilities" in capabilities.content
    assert probe.connections == 0


def test_citizens_behind_the_proxy_each_get_their_own_daily_limit(front: dict, db_url: str) -> None:
    base = front["base"]
    before = count_reports(db_url)
    first = submit(base, "203.0.113.10", "Zniszczona ławka (pierwszy mieszkaniec)")
    second = submit(base, "203.0.113.11", "Zniszczona ławka (drugi mieszkaniec)")
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert count_reports(db_url) == before + 2

    again = submit(base, "203.0.113.10", "Zniszczona ławka (znowu pierwszy)")
    assert again.status_code == 429, again.text
    assert "daily limit" in again.json()["description"]  # the API's limit, not nginx's
    # a client cannot escape by writing an address of its choice in front: nginx
    # believes only what the trusted hop (here 127.0.0.1) saw
    spoofed = submit(base, "198.51.100.77, 203.0.113.10", "Zniszczona ławka (podszywam się)")
    assert spoofed.status_code == 429, spoofed.text
    assert "daily limit" in spoofed.json()["description"]
    assert count_reports(db_url) == before + 2


def test_a_burst_of_submissions_is_cut_by_nginx(front: dict, db_url: str) -> None:
    base = front["base"]
    before_lines = len(log_lines(front, "stdout.log"))
    before = count_reports(db_url)
    # twelve submissions at once from twelve addresses of one IPv6 /64
    started = time.monotonic()
    answers = [
        submit(base, f"2001:db8:4d:2a::{n:x}", f"Wandalizm, seria {n}") for n in range(1, 13)
    ]
    # 10 a minute with a burst of 5: the first and five more pass, then one per 6 s
    allowed = 1 + 5 + int((time.monotonic() - started) / 6)
    refused = [
        a for a in answers if a.status_code == 429 and "Too many reports" in a.json()["description"]
    ]
    assert len(refused) >= 12 - allowed, [(a.status_code, a.text[:120]) for a in answers]
    assert all("112" in a.json()["notice"]["pl"] for a in refused)
    lines = log_lines(front, "stdout.log")[before_lines:]
    assert len(lines) == 12
    reached = [line for line in lines if not line.endswith("upstream=-")]
    assert len(reached) == 12 - len(refused) <= allowed  # the refused never reached the API
    assert count_reports(db_url) - before <= len(reached)


def test_the_submit_route_logs_no_client_address(front: dict) -> None:
    base = front["base"]
    submit(base, "192.0.2.55", "Sprawdzenie logu")
    requests.get(
        f"{base}/collections/threat-categories",
        params={"f": "json"},
        headers={"X-Forwarded-For": "192.0.2.56"},
        timeout=30,
    )
    submissions = log_lines(front, "stdout.log")
    assert submissions and all(SUBMIT in line for line in submissions)
    assert not [line for line in submissions if ADDRESS.search(line.split('"', 1)[1])], submissions
    assert not [line for line in submissions if "192.0.2.55" in line or "203.0.113" in line]
    others = log_lines(front, "access.log")
    assert not [line for line in others if "submit-threat/execution" in line]
    assert any(
        line.startswith("192.0.2.56 ") and "/collections/threat-categories" in line
        for line in others
    ), others[-5:]
    # nginx's error log (info and up): nothing about the submissions, no addresses of theirs
    errors = log_lines(front, "error.log") + log_lines(front, "stderr.log")
    assert not [line for line in errors if "2001:db8:4d:2a" in line or "192.0.2.55" in line]


def test_tiles_and_public_reads_are_cached(front: dict) -> None:
    base = front["base"]
    tile = f"{base}/collections/crime-rates/tiles/WebMercatorQuad/5/10/17?f=mvt"
    first = requests.get(tile, timeout=60)
    second = requests.get(tile, timeout=60)
    assert first.status_code == 200 and second.status_code == 200
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.content == first.content and len(first.content) > 1000
    cached = [
        line for line in log_lines(front, "access.log") if "/tiles/WebMercatorQuad/5/10/17" in line
    ]
    assert cached[-1].endswith("upstream=- cache=HIT")  # the API was not asked the 2nd time

    # a caller with a token is neither served from the cache nor cached
    with_token = requests.get(tile, headers={"Authorization": "Bearer not-a-token"}, timeout=60)
    assert with_token.status_code == 401
    assert with_token.headers["X-Cache-Status"] == "BYPASS"

    items = f"{base}/collections/wojewodztwa/items?f=json&limit=2"
    assert requests.get(items, timeout=60).headers["X-Cache-Status"] == "MISS"
    again = requests.get(items, timeout=60)
    assert again.headers["X-Cache-Status"] == "HIT" and again.json()["features"]
    # submissions and private reads are never cached
    assert "X-Cache-Status" not in requests.get(f"{base}/", timeout=30).headers


def test_hsts_on_tls_only(front: dict) -> None:
    secure = requests.get(f"{front['tls']}/collections?f=json", verify=front["cert"], timeout=30)
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    assert secure.headers["Strict-Transport-Security"].count("max-age") == 1  # nginx's only
    plain = requests.get(f"{front['base']}/collections?f=json", timeout=30)
    assert "Strict-Transport-Security" not in plain.headers


def test_the_docker_site_is_valid_nginx_on_the_same_rules(tmp_path: Path) -> None:
    """docker/nginx/kmzb.conf as the nginx image renders it, checked by `nginx -t`
    with only its container paths and host names pointed at this machine."""
    site = (NGINX_DIR / "kmzb.conf").read_text()
    for name in SHARED:
        assert f"include /etc/nginx/kmzb/{name};" in site
    for directive in (
        "set_real_ip_from ${KMZB_LB_NETWORK};",
        "ssl_certificate /etc/nginx/certs/fullchain.pem;",
        "keys_zone=kmzb_cache:",
    ):
        assert directive in site
    subprocess.run(
        [str(NGINX_DIR / "make-self-signed-cert.sh"), str(tmp_path / "certs"), "kmzb.example"],
        check=True,
        capture_output=True,
    )
    rendered = (
        site.replace("${KMZB_SERVER_NAME}", "kmzb.example")
        .replace("${KMZB_LB_NETWORK}", "10.0.0.0/8")
        .replace("/etc/nginx/kmzb/", f"{NGINX_DIR}/")
        .replace("/etc/nginx/certs/", f"{tmp_path / 'certs'}/")
        .replace("/var/cache/nginx/", f"{tmp_path}/cache/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
        .replace("server api:5000;", "server 127.0.0.1:9;")
        .replace("server qgis-server:9993;", "server 127.0.0.1:9;")
    )
    assert not re.findall(r"\$\{\w+\}", rendered)  # every variable of the template given
    (tmp_path / "cache").mkdir()  # the image has /var/cache/nginx
    (tmp_path / "kmzb.conf").write_text(rendered)
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path / 'error.log'};\npid {tmp_path / 'nginx.pid'};\n"
        f"events {{}}\nhttp {{\n    include /etc/nginx/mime.types;\n"
        f"    include {tmp_path / 'kmzb.conf'};\n}}\n"
    )
    checked = subprocess.run(
        [
            shutil.which("nginx") or "/usr/sbin/nginx",
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
