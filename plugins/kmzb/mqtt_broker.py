"""Launching Mosquitto for development: the MQTT broker of the alerts (issue 14).

`kmzb run` (and the tests) write var/mqtt/: mosquitto.conf (a listener on
127.0.0.1:KMZB_MQTT_PORT, sessions persisted in var/mqtt, log to a file), the password file
(mosquitto_passwd, mode 0600) with the one user that may publish,
`kmzb-publisher`, and the ACL: anonymous clients may subscribe to `kmzb/#` and
publish nothing; kmzb-publisher may read and write `kmzb/#`. Its password is
KMZB_MQTT_PASSWORD, else one generated once into var/mqtt/publisher.secret
(0600). In production (KMZB_MQTT_URL names a broker) nothing is started here.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kmzb.errors import KmzbError
from kmzb.settings import MQTT_PUBLISHER_USER, VAR_DIR, Settings

MOSQUITTO = "/usr/sbin/mosquitto"
BROKER_DIR = VAR_DIR / "mqtt"
SECRET_FILE = "publisher.secret"


class BrokerError(KmzbError):
    """Mosquitto could not be configured or started."""


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    password_file: Path
    acl_file: Path
    log: Path


def publisher_password(settings: Settings, folder: Path = BROKER_DIR) -> str:
    """KMZB_MQTT_PASSWORD, else the one generated into `folder` (created once, 0600)."""
    if settings.mqtt_password:
        return settings.mqtt_password
    secret = folder / SECRET_FILE
    if not secret.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(24))
    return secret.read_text(encoding="utf-8").strip()


ACL = f"""# anonymous clients: subscribe only
topic read kmzb/#

# the alerts publisher (kmzb.alerts_publisher)
user {MQTT_PUBLISHER_USER}
topic readwrite kmzb/#
"""


def write_files(folder: Path, port: int, password: str) -> BrokerFiles:
    """mosquitto.conf, the password file and the ACL for a broker on 127.0.0.1:port."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None or not Path(MOSQUITTO).exists():
        raise BrokerError("Mosquitto is not installed: run `make bootstrap` (Debian mosquitto)")
    folder.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(
        folder / "mosquitto.conf", folder / "passwd", folder / "acl", folder / "mosquitto.log"
    )
    files.password_file.unlink(missing_ok=True)
    os.close(os.open(files.password_file, os.O_WRONLY | os.O_CREAT, 0o600))
    made = subprocess.run(
        [tool, "-b", str(files.password_file), MQTT_PUBLISHER_USER, password],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise BrokerError(f"mosquitto_passwd failed: {made.stderr.strip() or made.stdout.strip()}")
    files.password_file.chmod(0o600)
    files.acl_file.write_text(ACL, encoding="utf-8")
    files.config.write_text(
        "\n".join(
            [
                "# written by kmzb.mqtt_broker: edits are overwritten",
                "per_listener_settings false",
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                f"password_file {files.password_file}",
                f"acl_file {files.acl_file}",
                # subscribers' persistent sessions (and their queued QoS 1 messages)
                # survive a restart: saved on shutdown and every minute
                "persistence true",
                f"persistence_location {files.config.parent}/",
                "autosave_interval 60",
                "persistent_client_expiration 1d",  # sessions nobody resumes: a day
                f"log_dest file {files.log}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                f"user {getpass.getuser()}",  # as root, stay root: the files are 0600
                "",
            ]
        ),
        encoding="utf-8",
    )
    return files


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(files: BrokerFiles, port: int) -> subprocess.Popen[bytes]:
    """Start Mosquitto with `files`; wait_until_ready() before using it."""
    if _accepts(port):
        raise BrokerError(f"port {port} on 127.0.0.1 is taken; set KMZB_MQTT_PORT")
    return subprocess.Popen(
        [MOSQUITTO, "-c", str(files.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in a terminal reaches `kmzb run`, which stops it
    )


def wait_until_ready(process: subprocess.Popen[bytes], port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"mosquitto exited with {process.returncode}; see {BROKER_DIR}")
        if _accepts(port):
            return
        time.sleep(0.05)
    raise BrokerError(f"mosquitto did not accept connections on port {port} in {seconds} s")


def launch(settings: Settings, folder: Path = BROKER_DIR) -> subprocess.Popen[bytes]:
    """Write the files and start the development broker on KMZB_MQTT_PORT, ready."""
    files = write_files(folder, settings.mqtt_port, publisher_password(settings, folder))
    process = start(files, settings.mqtt_port)
    try:
        wait_until_ready(process, settings.mqtt_port)
    except BrokerError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def subscribe_command(settings: Settings, topic: str = "kmzb/threats/#") -> str:
    """The mosquitto_sub line that watches the alerts (anonymous, read-only)."""
    return f"mosquitto_sub -h 127.0.0.1 -p {settings.mqtt_port} -t '{topic}' -v"
