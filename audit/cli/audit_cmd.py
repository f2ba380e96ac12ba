"""``llm360-audit RELEASE``: audit a release, write every report artifact, exit with the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli import common
from audit.cli.root import app, usage
from audit.cli.choices import FailOn, Level, OutputFormat, value
from audit.forensics.options import OrderTestOptions
from audit.replay.options import DEFAULT_SAMPLE, ReplayOptions


def _replay_mode(text: str) -> str:
    if text in ("all", "none") or (text.isdigit() and int(text) > 0):
        return text
    raise typer.BadParameter("must be all, none or a positive number of segments")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@app.command("audit", short_help="Audit a release (the default command).")
def audit_cmd(
    release: Annotated[Path, typer.Argument(metavar="RELEASE", help="Release directory (holds llm360.yaml).")],
    out: common.Out = None,
    replay: Annotated[str, typer.Option(
        callback=_replay_mode, metavar="all|none|N", help="Segments to replay: all, none, or N (the first plus a seeded sample).")] = DEFAULT_SAMPLE,
    replay_steps: Annotated[Optional[int], typer.Option(
        min=1, metavar="K", help="Replay only the first K steps of each segment (compared with the training log).")] = None,
    replay_seed: Annotated[int, typer.Option(metavar="S", help="Seed of the segment sample.")] = 0,
    device: Annotated[str, typer.Option(metavar="cpu|cuda[:N]", help="Device for the replay and the order test.")] = "cpu",
    order_test: Annotated[str, typer.Option(
        callback=_replay_mode, metavar="all|none|N",
        help="Order test from the weights (segments that cannot be replayed exactly): all, none, or N (the first "
             "plus a seeded sample).")] = "none",
    order_sample: Annotated[int, typer.Option(
        min=2, metavar="M", help="Declared sequences sampled per tested segment (controls: 4 × M).")] = OrderTestOptions.sample,
    order_seed: Annotated[int, typer.Option(metavar="S", help="Seed of the order test's segment and sequence samples.")] = 0,
    tolerance: Annotated[float, typer.Option(
        min=0.0, metavar="T", help="Relative tolerance accepted when the replay environment differs.")] = ReplayOptions.tolerance,
    allow_exec: Annotated[bool, typer.Option(
        "--allow-exec", help="Allow running the release's own replay command (code.replay_command).")] = False,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Check structure only; do not hash files.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Hash cache directory (default: $XDG_CACHE_HOME/llm360-audit).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Hash every file; neither read nor write the cache.")] = False,
    data_sample: Annotated[float, typer.Option(
        min=0.0, max=1.0, metavar="F", help="Recount tokens in this fraction of the data chunks (seeded); all are hashed.")] = 1.0,
    data_sample_seed: Annotated[int, typer.Option(metavar="S", help="Seed of the chunk sample.")] = 0,
    fail_on: Annotated[Optional[FailOn], typer.Option(
        help="Fail on unwaived findings of this severity or worse (default: error).")] = None,
    require_level: Annotated[Optional[Level], typer.Option(help="Fail below this openness level.")] = None,
    policy: common.PolicyFile = None,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="text: a summary on the terminal; json: report.json on stdout; sarif: report.sarif on "
                         "stdout; github: GitHub Actions annotations on stdout.")] = OutputFormat.text,
    select: Annotated[Optional[list[str]], typer.Option(
        metavar="RULE", help="Report only findings of these rules (an id, a prefix such as `checkpoints`, or a glob); "
                             "repeatable. For local runs: the gate's waivers belong in the policy file.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(
        metavar="RULE", help="Drop findings of these rules (id, prefix or glob); repeatable; recorded in the report.")] = None,
    quiet: common.Quiet = False,
    resolve_local: common.ResolveLocal = None,
    shard: Annotated[Optional[str], typer.Option(
        metavar="I/N", help="Do part I of N of the hashing, recounting and replay (e.g. 1/3); combine with `llm360-audit merge`.")] = None,
    sign_key: Annotated[Optional[Path], typer.Option(
        metavar="PRIVATE.pem", help="Sign the release (release.sig, OpenSSF Model Signing) and the report (report.sig) with this "
             "EC P-256 or Ed25519 key; an encrypted key's passphrase comes from $LLM360_AUDIT_KEY_PASSWORD.")] = None,
    sigstore: Annotated[bool, typer.Option(
        "--sigstore", help="Sign keyless through sigstore instead (an OIDC identity from $SIGSTORE_ID_TOKEN or the CI's "
                           "ambient credentials; needs the network and the sigstore package).")] = False,
) -> None:
    """Audit RELEASE, write every report artifact to --out, exit 0 (pass) or 1 (fail)."""
    import datetime as dt

    from audit.core.auditor import Auditor
    from audit.core.evidence import Evidence, ShardPart
    from audit.core.options import AuditOptions, GateOptions, ScopeOptions
    from audit.core.policy import rule_matches
    from audit.core.shard import Shard, ShardError
    from audit.storage.hashing import default_cache_dir

    resolver = common.resolver(resolve_local)
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise usage(f"--device {device}: use cpu or cuda")
    from audit.spec.rules import catalog

    known = [info.rule.id for info in catalog()]
    for pattern in [*(select or ()), *(ignore or ())]:
        if not any(rule_matches(rid, [pattern]) for rid in known):
            raise usage(f"--select/--ignore {pattern}: matches no rule; `llm360-audit rules` lists them")
    if data_sample <= 0:
        raise usage("--data-sample must be a fraction in (0, 1]")
    try:
        part = Shard.parse(shard) if shard is not None else None
    except ShardError as exc:
        raise usage(str(exc)) from None
    if sign_key is not None and sigstore:
        raise usage("--sign-key and --sigstore: choose one way to sign")
    flag = "--sign-key" if sign_key is not None else "--sigstore"
    if (sign_key is not None or sigstore) and no_hash:
        raise usage(f"{flag} signs the files' digests: it cannot sign an audit run with --no-hash")
    if (sign_key is not None or sigstore) and part is not None:
        raise usage(f"{flag} signs a whole audit, not one shard (merge does not sign): sign an audit run without --shard")
    signer = common.signer(sign_key, sigstore)
    root, out_dir = common.release_and_out(release, out)
    if device.startswith("cuda") and not _cuda_available():
        raise usage(f"--device {device}: no CUDA device is available")
    options = AuditOptions(
        scope=ScopeOptions(hash_files=not no_hash, cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
                           data_sample=data_sample, data_sample_seed=data_sample_seed),
        replay=ReplayOptions(mode=replay, steps=replay_steps, device=device, seed=replay_seed,
                             tolerance=tolerance, allow_exec=allow_exec),
        order=OrderTestOptions(mode=order_test, sample=order_sample, control_sample=4 * order_sample, seed=order_seed,
                               device=device),
        gate=GateOptions(policy=common.policy(root, policy), fail_on=value(fail_on),
                         require_level=value(require_level), today=dt.date.today(),
                         select=tuple(select or ()), ignore=tuple(ignore or ())),
        evidence=ShardPart(part) if part is not None else Evidence(),
        resolver=resolver,
    )  # fmt: skip
    auditor = Auditor(progress=common.progress(quiet, output_format))
    if signer is None:
        return common.finish(lambda: auditor.audit(root, options), out_dir, output_format, quiet)
    from audit.attest.seal import Sealer

    sealer = Sealer(signer, root, options.scope.cache_dir)
    common.finish(lambda: sealer.stamp(auditor.audit(root, options)), out_dir, output_format, quiet,
                  seal=lambda report, files: sealer.seal(report, files, auditor.hashes))
