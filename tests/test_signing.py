"""Signed attestations through the CLI, with keys made here: ``--sign-key`` writes release.sig (checked by
the real ``model_signing verify key``) and report.sig; ``llm360-audit verify`` checks both against the
release as it is now. Only the offline key path is covered: keyless sigstore signing needs a network."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import flip_tensor_byte, run_cli

cryptography = pytest.importorskip("cryptography", reason="signing needs the `sign` extra (cryptography)")
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: E402

AUDIT = ("--replay", "none")
CHECKPOINT = "checkpoints/step_000004/model.safetensors"


def _model_signing_missing() -> str | None:
    for module in ("model_signing", "OpenSSL"):  # model-signing 1.1.1 imports pyOpenSSL without declaring it
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'llm360-audit[test]')"
    return None


def make_key(directory: Path, name: str = "signer", kind: str = "ec", password: bytes | None = None) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else ed25519.Ed25519PrivateKey.generate()
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    return private, public


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


def sign(release: Path, tmp_path: Path, key: Path, out: Path | None = None, **extra: str):
    out = out or tmp_path / "out"
    return run_cli(str(release), *AUDIT, "--out", str(out), "--sign-key", str(key), env=env(tmp_path, **extra)), out


def verify(release: Path, out: Path, public: Path, tmp_path: Path):
    return run_cli("verify", str(release), "--report", str(out), "--key", str(public), env=env(tmp_path))


@pytest.fixture
def keys(tmp_path) -> tuple[Path, Path]:
    (tmp_path / "keys").mkdir()
    return make_key(tmp_path / "keys")


@pytest.fixture
def signed(release, tmp_path, keys) -> Path:
    r, out = sign(release, tmp_path, keys[0])
    assert r.returncode == 0, r.stderr
    return out


def test_a_signed_audit_verifies_and_prints_the_attested_verdict(release, tmp_path, keys, signed):
    assert (signed / "release.sig").is_file() and (signed / "report.sig").is_file()
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "attested: PASS · level fully-open" in r.stdout
    assert "verified: release.sig (" in r.stdout and r.stderr == ""


def test_report_sig_is_an_in_toto_statement_of_the_projects_predicate(signed):
    import base64

    bundle = json.loads((signed / "report.sig").read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://llm360-audit.dev/attestation/v1"
    assert {s["name"] for s in statement["subject"]} == {"llm360.yaml", "report.json"}
    report = json.loads((signed / "report.json").read_text())
    pred = statement["predicate"]
    assert (pred["verdict"], pred["level"], pred["mof_class"]) == (report["verdict"], report["level"], report["mof_class"])
    assert pred["criteria"] == {c: v["status"] for c, v in report["criteria"].items()}
    assert pred["scope"]["hashing"] == "full" and pred["tool"]["version"] == report["tool"]["version"]
    assert report["signing"]["key_fingerprint"] in (signed / "badges" / "llm360.json").read_text()
    assert "llm360-audit verify" in (signed / "badges" / "README.md").read_text()
    assert f"signed by key <code title=\"{report['signing']['key_fingerprint']}\">" in (signed / "report.html").read_text()


def test_model_signing_accepts_release_sig_unchanged(release, tmp_path, keys, signed):
    if (why := _model_signing_missing()) is not None:
        pytest.skip(why)
    cmd = [sys.executable, "-m", "model_signing", "verify", "key", str(release),
           "--signature", str(signed / "release.sig"), "--public_key", str(keys[1])]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Verification succeeded" in r.stdout, r.stdout + r.stderr
    flip_tensor_byte(release / CHECKPOINT)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and CHECKPOINT in r.stdout + r.stderr


def test_one_flipped_byte_in_a_checkpoint_names_the_file_expected_and_actual(release, tmp_path, keys, signed):
    flip_tensor_byte(release / CHECKPOINT)
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 1
    lines = [line for line in r.stdout.splitlines() if line.startswith(CHECKPOINT)]
    assert len(lines) == 1 and "expected sha256 " in lines[0] and ", actual " in lines[0]
    assert "NOT VERIFIED: 1 difference(s)" in r.stdout and "Traceback" not in r.stderr


def test_an_added_and_a_removed_file_are_named(release, tmp_path, keys, signed):
    (release / "notes.txt").write_text("added after signing\n")
    (release / "evals" / "evaluations.jsonl").unlink()
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 1
    assert "notes.txt: not signed" in r.stdout and "evals/evaluations.jsonl: missing" in r.stdout


def test_an_edited_report_json_fails_naming_it(release, tmp_path, keys, signed):
    path = signed / "report.json"
    path.write_text(path.read_text().replace('"level": "fully-open"', '"level": "reproduced"'))
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 1
    assert [line for line in r.stdout.splitlines() if line.startswith("report.json: expected sha256 ")]


def test_another_public_key_fails_both_signatures(release, tmp_path, signed):
    _, other = make_key(tmp_path / "keys", "other")
    r = verify(release, signed, other, tmp_path)
    assert r.returncode == 1
    assert "release.sig: the signature does not verify with key" in r.stdout
    assert "report.sig: the signature does not verify with key" in r.stdout
    if _model_signing_missing() is None:
        r = subprocess.run([sys.executable, "-m", "model_signing", "verify", "key", str(release), "--signature",
                            str(signed / "release.sig"), "--public_key", str(other)], capture_output=True, text=True)  # fmt: skip
        assert r.returncode != 0


def test_a_missing_signature_is_exit_1_with_a_clear_line(release, tmp_path, keys, signed):
    (signed / "report.sig").unlink()
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 1 and "report.sig: missing" in r.stdout and "Traceback" not in r.stderr


def test_no_hash_with_sign_key_is_refused_before_any_work(release, tmp_path, keys):
    out = tmp_path / "out"
    r = run_cli(str(release), "--no-hash", "--sign-key", str(keys[0]), "--out", str(out), env=env(tmp_path))
    assert r.returncode == 2 and not out.exists()
    assert r.stderr.strip().count("\n") == 0 and "--no-hash" in r.stderr


def test_an_encrypted_key_takes_its_passphrase_from_the_environment(release, tmp_path):
    (tmp_path / "keys").mkdir()
    private, public = make_key(tmp_path / "keys", password=b"correct horse")
    r, out = sign(release, tmp_path, private, LLM360_AUDIT_KEY_PASSWORD="correct horse")
    assert r.returncode == 0, r.stderr
    assert verify(release, out, public, tmp_path).returncode == 0
    for extra in ({"LLM360_AUDIT_KEY_PASSWORD": "wrong"}, {}):
        r, out = sign(release, tmp_path, private, out=tmp_path / "out2", **extra)
        assert r.returncode == 2 and not out.exists(), r.stderr
        assert r.stderr.count("\n") == 1 and "LLM360_AUDIT_KEY_PASSWORD" in r.stderr and "Traceback" not in r.stderr


def test_an_ed25519_key_signs_and_verifies(release, tmp_path):
    (tmp_path / "keys").mkdir()
    private, public = make_key(tmp_path / "keys", kind="ed25519")
    r, out = sign(release, tmp_path, private)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "report.json").read_text())["signing"]["algorithm"] == "ed25519"
    assert verify(release, out, public, tmp_path).returncode == 0


def test_a_failing_release_is_signed_and_the_statement_says_it_fails(release, tmp_path, keys):
    flip_tensor_byte(release / CHECKPOINT)
    r, out = sign(release, tmp_path, keys[0])
    assert r.returncode == 1 and (out / "report.sig").is_file()
    r = verify(release, out, keys[1], tmp_path)
    assert r.returncode == 0 and "attested: FAIL" in r.stdout


def test_usage_errors_of_verify_are_one_line(release, tmp_path, keys, signed):
    r = run_cli("verify", str(release), "--report", str(signed), "--key", str(tmp_path / "absent.pem"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "absent.pem" in r.stderr
    r = run_cli("verify", str(release), "--report", str(signed), "--key", str(keys[0]))  # a private key
    assert r.returncode == 2 and "not a PEM public key" in r.stderr


def test_a_symlink_in_the_release_cannot_be_signed(release, tmp_path, keys):
    (release / "link").symlink_to(release / "LICENSE")
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    r, out = sign(release, tmp_path, keys[0])
    assert r.returncode == 2 and "symbolic link" in r.stderr and not (out / "report.sig").exists()


def test_a_release_without_a_manifest_is_signed_and_verifies_with_git_files_left_out(tmp_path, keys):
    release = tmp_path / "bare"
    (release / ".git").mkdir(parents=True)
    (release / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (release / "weights.bin").write_bytes(b"\0" * 64)
    r, out = sign(release, tmp_path, keys[0])
    assert r.returncode == 1 and (out / "release.sig").is_file()
    r = verify(release, out, keys[1], tmp_path)
    assert r.returncode == 0 and "attested: FAIL · level closed" in r.stdout and "(1 file)" in r.stdout


def test_verify_prints_the_statement_digest_the_badge_carries(release, tmp_path, keys, signed):
    att = json.loads((signed / "badges" / "llm360.json").read_text())["llm360Attestation"]
    assert att["method"] == "key" and att["verify"] == "llm360-audit verify RELEASE --report DIR --key PUBLIC.pem"
    r = verify(release, signed, keys[1], tmp_path)
    assert r.returncode == 0
    assert f"report statement sha256 {att['statement_sha256']}" in r.stdout


# Keyless signing (--sigstore) needs the network (Fulcio, Rekor, sigstore's TUF root), which tests do not
# have: only its offline paths are covered, each a one-line error with nothing written.


def _jwt(claims: dict) -> str:
    """An unsigned but well-formed OIDC token (sigstore checks its claims, Fulcio its signature)."""
    import base64
    import time

    def part(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iss": "https://oauth2.sigstore.dev/auth", "aud": "sigstore", "sub": "auditor", "iat": now - 10,
            "exp": now + 3600, "email": "auditor@example.com", "email_verified": True, **claims}  # fmt: skip
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(body)}.c2ln"


@pytest.mark.parametrize("token, said", [
    ("", "--sigstore needs an OIDC identity token: set $SIGSTORE_ID_TOKEN"),
    ("not-a-token", "--sigstore: $SIGSTORE_ID_TOKEN is not a usable identity token"),
    ("expired", "--sigstore: $SIGSTORE_ID_TOKEN is not a usable identity token"),
    ("offline", "cannot sign: --sigstore: signing failed ("),
])  # fmt: skip
def test_keyless_signing_offline_is_one_line_and_writes_nothing(release, tmp_path, token, said):
    import time

    if token == "expired":
        token = _jwt({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600})
    elif token == "offline":
        pytest.importorskip("sigstore")
        token = _jwt({})
    out = tmp_path / "out"
    blank = {k: "" for k in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_CI", "BUILDKITE",
                             "CIRCLECI", "GOOGLE_SERVICE_ACCOUNT_NAME")}  # fmt: skip
    r = run_cli(str(release), *AUDIT, "--out", str(out), "--sigstore", "-q",
                env=env(tmp_path, SIGSTORE_ID_TOKEN=token, **blank), timeout=300)  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_keyless_flags_are_checked_before_any_work(release, tmp_path, keys):
    r = run_cli(str(release), *AUDIT, "--out", str(tmp_path / "o"), "--sigstore", "--sign-key", str(keys[0]))
    assert r.returncode == 2 and "--sign-key and --sigstore: choose one way to sign" in r.stderr
    r = run_cli(str(release), "--no-hash", "--sigstore", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--sigstore signs the files' digests" in r.stderr
    for args, said in ((["--identity", "a@b.c"], "--identity and --issuer go together"),
                       (["--key", str(keys[1]), "--identity", "a@b.c", "--issuer", "https://x"], "not both"),
                       ([], "give --key PUBLIC.pem (a signing key) or --identity and --issuer")):  # fmt: skip
        r = run_cli("verify", str(release), "--report", str(tmp_path), *args)
        assert r.returncode == 2 and said in r.stderr, r.stderr


def test_keyless_verification_offline_says_it_needs_the_trust_root(release, tmp_path, keys, signed):
    pytest.importorskip("sigstore")
    r = run_cli("verify", str(release), "--report", str(signed), "--identity", "auditor@example.com",
                "--issuer", "https://oauth2.sigstore.dev/auth", env=env(tmp_path), timeout=300)  # fmt: skip
    assert "Traceback" not in r.stderr
    if r.returncode == 2:  # no network (as in CI): the trust root cannot be loaded
        assert "keyless verification needs network access to sigstore's TUF repository" in r.stderr
    else:  # with a network: a key-signed bundle is not a keyless one
        assert r.returncode == 1 and "does not verify for auditor@example.com" in r.stdout
