"""``llm360-audit verify RELEASE --report DIR --key PUBLIC.pem``: check a signed audit (release.sig,
report.sig) against the release as it is now; exit 0 when everything holds, 1 with one line per
difference, 2 for usage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli.root import EXIT_FAIL, EXIT_PASS, app, usage


@app.command("verify", short_help="Verify a signed audit (release.sig, report.sig) against the release.")
def verify_cmd(
    release: Annotated[Path, typer.Argument(metavar="RELEASE", help="Release directory that was audited.")],
    report: Annotated[Path, typer.Option(metavar="DIR", help="The signed audit's report directory (holds release.sig, report.sig, report.json).")],
    key: Annotated[Optional[Path], typer.Option(metavar="PUBLIC.pem", help="The signer's public key (PEM).")] = None,
    identity: Annotated[Optional[str], typer.Option(
        metavar="ID", help="Keyless (--sigstore) audits: the signer's OIDC identity (e-mail or workflow URI).")] = None,
    issuer: Annotated[Optional[str], typer.Option(
        metavar="URL", help="Keyless audits: the OIDC issuer of --identity (e.g. https://token.actions.githubusercontent.com).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Hash cache directory (default: $XDG_CACHE_HOME/llm360-audit).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Hash every file; neither read nor write the cache.")] = False,
) -> None:
    """Check both signatures with KEY (or, keyless, for IDENTITY and ISSUER), that RELEASE's files have the
    signed digests and that DIR's report.json is the signed one; print the attested verdict and level."""
    from audit.attest.keyless import KeylessProblem, KeylessVerifier
    from audit.attest.keys import KeyProblem, load_public_key
    from audit.attest.verify import KeyOpener, Unreadable, verify
    from audit.storage.hashing import default_cache_dir

    if (key is None) == (identity is None):
        raise usage("give --key PUBLIC.pem (a signing key) or --identity and --issuer (keyless), not both")
    if (identity is None) != (issuer is None):
        raise usage("--identity and --issuer go together")
    if not release.is_dir():
        raise usage(f"{release} is not a directory")
    if not report.is_dir():
        raise usage(f"--report {report} is not a directory")
    try:
        opener = KeyOpener(load_public_key(key)) if key is not None else KeylessVerifier(identity, issuer)
        result = verify(release.resolve(), report.resolve(), opener, None if no_cache else (cache_dir or default_cache_dir()))
    except (KeyProblem, KeylessProblem, Unreadable) as exc:
        raise usage(str(exc)) from None
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for line in result.differences:
        console.print(line)
    claim = result.claim
    if claim is not None:
        scope = claim.get("scope") or {}
        replayed = (f", replayed {scope['segments_replayed']}/{scope['segments_total']} segments"
                    if scope.get("segments_total") is not None else "")  # fmt: skip
        tool = claim.get("tool") or {}
        said = "attested" if result.ok else "signed claim (not verified)"
        console.print(f"{said}: {str(claim.get('verdict')).upper()} · level {claim.get('level')} · MOF class "
                      f"{claim.get('mof_class')} (hashing {scope.get('hashing')}{replayed}; "
                      f"{tool.get('name')} {tool.get('version')}, {claim.get('time')})")  # fmt: skip
    if result.ok:
        console.print(f"verified: release.sig ({result.files} file{'s' * (result.files != 1)}) and report.sig hold for "
                      f"{opener.name}; report statement sha256 {result.statement_sha256}")
        raise typer.Exit(EXIT_PASS)
    console.print(f"NOT VERIFIED: {len(result.differences)} difference(s)")
    raise typer.Exit(EXIT_FAIL)
