"""The token verifier's rules (kmzb.auth.verifier), pure: keys in a temporary folder,
no database, no server. The QGIS plugin runs the same file (a symbolic link):
tests/test_tokens_parity.py runs these tokens through both."""

from __future__ import annotations

import ast
import os
import socket
import sys
import time
from dataclasses import asdict
from pathlib import Path

import jwt
import pytest
from token_cases import (
    AUDIENCE,
    ISSUER,
    Keys,
    claims,
    local_cases,
    new_ec_key,
    new_rsa_key,
    pem_private,
    pem_public,
    write_key_pair,
)

from kmzb.auth import verifier
from kmzb.domain import caller

CHECKOUT = Path(__file__).resolve().parents[2]
SERVICE_FILE = CHECKOUT / "plugins" / "kmzb" / "auth" / "verifier.py"
PLUGIN_DIR = CHECKOUT / "plugins" / "qgis_server"
PLUGIN_FILE = PLUGIN_DIR / "kmzb_access" / "verifier.py"
KEYS = Keys.new()


def outcome(config: verifier.TokenConfig, token: str, now: float | None = None) -> tuple:
    try:
        who = verifier.verify(config, token, now=now)
    except verifier.TokenRefused as refused:
        return ("refused", refused.reason)
    return ("ok", who.role, who.unit or "", who.subject)


@pytest.fixture()
def config(tmp_path: Path) -> verifier.TokenConfig:
    write_key_pair(tmp_path, KEYS.local)
    return verifier.TokenConfig(issuer=ISSUER, audience=AUDIENCE, var_dir=tmp_path)


@pytest.mark.parametrize("case", local_cases(KEYS), ids=lambda case: case[0])
def test_each_token_gets_its_answer(config: verifier.TokenConfig, case) -> None:
    _name, token, expected = case
    assert outcome(config, token) == expected


def test_every_refusal_names_its_reason_in_polish_and_english(config) -> None:
    with pytest.raises(verifier.TokenRefused) as refused:
        verifier.verify(config, jwt.encode(claims(int(time.time()), role="x"), "k" * 32))
    assert (refused.value.en, refused.value.pl) == verifier.REASONS["algorithm"]
    for reason, (en, pl) in verifier.REASONS.items():
        assert en and pl and en != pl, reason


def test_the_leeway_is_thirty_seconds_each_side(config) -> None:
    now = 1_800_000_000
    token = jwt.encode(claims(now), pem_private(KEYS.local), algorithm="ES256")
    assert outcome(config, token, now=now + 600 + 29)[0] == "ok"  # exp + 29 s
    assert outcome(config, token, now=now + 600 + 30) == ("refused", "expired")
    assert outcome(config, token, now=now - 30)[0] == "ok"  # nbf - 30 s
    assert outcome(config, token, now=now - 31) == ("refused", "not_yet_valid")
    strict = verifier.TokenConfig(issuer=ISSUER, var_dir=config.var_dir, leeway_seconds=0)
    assert outcome(strict, token, now=now + 600) == ("refused", "expired")


def test_a_pem_file_is_used_before_the_development_pair(tmp_path: Path, config) -> None:
    rsa_key = new_rsa_key()
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(pem_public(rsa_key))
    from_file = verifier.TokenConfig(public_key_file=pem, var_dir=config.var_dir)
    now = int(time.time())
    assert (
        outcome(from_file, jwt.encode(claims(now), pem_private(rsa_key), algorithm="RS256"))[0]
        == "ok"
    )
    # the development pair is not trusted then, whatever var_dir holds
    local = jwt.encode(claims(now), pem_private(KEYS.local), algorithm="ES256")
    assert outcome(from_file, local) == ("refused", "algorithm")


def test_no_key_is_a_refusal_not_an_error(tmp_path: Path) -> None:
    token = jwt.encode(claims(int(time.time())), pem_private(KEYS.local), algorithm="ES256")
    assert outcome(verifier.TokenConfig(var_dir=tmp_path / "empty"), token) == (
        "refused",
        "no_key",
    )
    assert outcome(verifier.TokenConfig(), token) == ("refused", "no_key")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    assert outcome(verifier.TokenConfig(public_key_file=garbage), token) == ("refused", "no_key")


def test_unreachable_jwks_is_a_refusal_not_an_error() -> None:
    with socket.socket() as closed:  # a port on loopback that nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = verifier.TokenConfig(jwks_url=f"http://127.0.0.1:{port}/jwks.json")
    token = jwt.encode(
        claims(int(time.time())), pem_private(KEYS.issuer), algorithm="RS256", headers={"kid": "k"}
    )
    assert outcome(config, token) == ("refused", "unknown_key")


def test_a_replaced_key_file_is_read_again(tmp_path: Path) -> None:
    config = verifier.TokenConfig(var_dir=tmp_path)
    first, second = new_ec_key(), new_ec_key()
    public = write_key_pair(tmp_path, first)
    now = int(time.time())
    token = jwt.encode(claims(now), pem_private(second), algorithm="ES256")
    assert outcome(config, token) == ("refused", "signature")
    write_key_pair(tmp_path, second)
    stat = public.stat()
    os.utime(public, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert outcome(config, token)[0] == "ok"


def test_local_key_paths_are_the_var_folders_keys(tmp_path: Path) -> None:
    private, public = verifier.local_key_paths(tmp_path)
    assert private == tmp_path / "keys" / "jwt-es256-private.pem"
    assert public == verifier.TokenConfig(var_dir=tmp_path).key_file()


def test_the_rules_agree_with_the_domain() -> None:
    """kmzb.domain.caller keeps its own copies (the domain does not import auth)."""
    assert verifier.ROLES == caller.ROLES
    assert verifier.POLICE_ROLES == caller.POLICE_ROLES
    assert verifier.INSTITUTION_CODE.pattern == caller.INSTITUTION_CODE.pattern


# --- one file for both sides


def test_the_plugin_runs_the_service_file() -> None:
    """plugins/qgis_server/kmzb_access/verifier.py is a link to kmzb/auth/verifier.py,
    relative so that a clone anywhere keeps it (setup.py bundles its content)."""
    assert PLUGIN_FILE.is_symlink()
    assert os.readlink(PLUGIN_FILE) == "../../kmzb/auth/verifier.py"
    assert PLUGIN_FILE.resolve() == SERVICE_FILE.resolve()


def test_the_plugin_imports_it_as_its_own_module() -> None:
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        from kmzb_access import tokens  # noqa: PLC0415
        from kmzb_access import verifier as plugin_verifier
    finally:
        sys.path.remove(str(PLUGIN_DIR))
    assert Path(plugin_verifier.__file__).resolve() == SERVICE_FILE.resolve()
    assert tokens.verify is plugin_verifier.verify
    # two modules from one file: the plugin's classes are its own
    assert plugin_verifier.TokenConfig is not verifier.TokenConfig


def test_the_verifier_needs_only_pyjwt_cryptography_and_the_standard_library() -> None:
    tree = ast.parse(SERVICE_FILE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative import: the file is two modules"
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"jwt", "cryptography"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "os" not in imported and "environ" not in names | attributes  # settings come in


def test_the_plugin_reads_its_settings_in_one_function(tmp_path: Path) -> None:
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        from kmzb_access import tokens  # noqa: PLC0415
    finally:
        sys.path.remove(str(PLUGIN_DIR))
    assert asdict(tokens.configuration({})) == asdict(
        verifier.TokenConfig(issuer="kmzb-dev", audience="kmzb", var_dir=CHECKOUT / "var")
    )
    production = tokens.configuration(
        {
            "KMZB_JWT_ISSUER": "https://sso.policja.example",
            "KMZB_JWT_AUDIENCE": "kmzb-prod",
            "KMZB_JWKS_URL": "https://sso.policja.example/jwks",
            "KMZB_JWT_PUBLIC_KEY": "",
            "KMZB_VAR_DIR": str(tmp_path),
        }
    )
    assert asdict(production) == asdict(
        verifier.TokenConfig(
            issuer="https://sso.policja.example",
            audience="kmzb-prod",
            jwks_url="https://sso.policja.example/jwks",
            var_dir=tmp_path,
        )
    )
    pem = tokens.configuration({"KMZB_JWT_PUBLIC_KEY": str(tmp_path / "k.pem")})
    assert pem.key_file() == tmp_path / "k.pem"
    # and reading os.environ happens there only
    source = (PLUGIN_DIR / "kmzb_access" / "tokens.py").read_text()
    assert source.count("os.environ") == 1
    for name in ("server.py", "rules.py", "__init__.py"):
        assert "environ" not in (PLUGIN_DIR / "kmzb_access" / name).read_text(), name
