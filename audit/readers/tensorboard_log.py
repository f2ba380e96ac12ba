"""TensorBoard event files (``events.out.tfevents.*``) as a per-step training log.

Read with the ``tensorboard`` package (an optional extra: ``pip install 'llm360-audit[tensorboard]'``):
its TFRecord reader checks each record's length and CRC, and its protobufs decode the events. A record
that is truncated or fails its CRC is a problem naming where the file stops being readable (the
package's own loaders stop there silently). Scalars map to the log's fields by tag: torchtitan's
``loss_metrics/global_avg_loss``, ``lr/<optimizer>`` and ``grad_norm``, and the common plain names.

Megatron-LM's (``training_log`` in megatron/training/training.py, one event per
``--tensorboard-log-interval`` iterations, keyed by iteration) are read by :func:`read_megatron_event_file`:
``lm loss`` (the loss key of GPT's ``loss_func``), ``learning-rate``, ``grad-norm``; its ``… vs samples``
duplicates (keyed by consumed samples), ``batch-size``, ``loss-scale`` and the ``add_text`` of every
argument are not fields of the log. Megatron reads the learning rate after the scheduler's step, so the
rate logged at iteration s is the one update s + 1 uses (``lr_step_offset`` 1): what the file cannot
say is the rate of the first update.
"""

from __future__ import annotations

from pathlib import Path

from audit.readers.training_log import TrainingLog, add_record

#: Tag → log field; a tag ``lr/<name>`` (torchtitan: one per optimizer class) is the learning rate too.
TAGS = {
    "loss_metrics/global_avg_loss": "loss", "loss": "loss", "train/loss": "loss", "train_loss": "loss",
    "lr": "learning_rate", "learning_rate": "learning_rate", "train/learning_rate": "learning_rate",
    "grad_norm": "grad_norm", "train/grad_norm": "grad_norm",
}  # fmt: skip
#: Megatron-LM's tags (megatron/training/training.py training_log) → log field.
MEGATRON_TAGS = {"lm loss": "loss", "learning-rate": "learning_rate", "grad-norm": "grad_norm"}
EVENT_FILE_MARK = "tfevents"


def is_event_file(name: str) -> bool:
    return name.startswith("events.out.") and EVENT_FILE_MARK in name


def _field(tag: str) -> str | None:
    if tag in TAGS:
        return TAGS[tag]
    return "learning_rate" if tag.startswith("lr/") else None


def _megatron_field(tag: str) -> str | None:
    return MEGATRON_TAGS.get(tag)


def _scalar(value) -> float | None:
    """A summary value's scalar: ``simple_value`` (TF1 style) or a one-element float tensor (torch's writer)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        t = value.tensor
        for vals in (t.float_val, t.double_val, t.int_val, t.int64_val):
            if len(vals) == 1:
                return float(vals[0])
        if t.tensor_content and len(t.tensor_content) in (4, 8) and t.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
            import struct

            return struct.unpack("<f" if t.dtype == 1 else "<d", t.tensor_content)[0]
    return None


def read_megatron_event_file(path: Path) -> TrainingLog:
    """An event file Megatron-LM's training loop wrote (its tags; the rate logged at s is that of update s + 1)."""
    return read_event_file(path, _megatron_field, lr_step_offset=1)


def read_event_file(path: Path, field=_field, lr_step_offset: int = 0) -> TrainingLog:
    """The scalars of one event file, one row per step (the loss, learning rate and grad norm found);
    ``field(tag)``: the log field a tag is, or None."""
    log = TrainingLog(position_kind="event", lr_step_offset=lr_step_offset)
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.compat import tf
        from tensorboard.compat.proto import event_pb2
    except ImportError:
        log.problem("the tensorboard package is not installed (pip install 'llm360-audit[tensorboard]'): not read")
        return log
    rows: dict[int, dict[str, float]] = {}
    first: dict[int, int] = {}
    n = 0
    make_records = getattr(event_file_loader, "_make_tf_record_iterator", None)  # its CRC-checking record reader
    if make_records is None:
        log.problem(f"tensorboard {getattr(tf, '__version__', '?')} has no record reader this auditor knows: not read")
        return log
    try:
        records = make_records(str(path))
        while True:
            try:
                raw = next(records)
            except StopIteration:
                break
            try:
                event = event_pb2.Event.FromString(raw)
            except Exception as exc:  # protobuf's DecodeError and friends
                log.problem(f"event {n}: not an Event protobuf ({type(exc).__name__})")
                break
            n += 1
            for value in event.summary.value:
                name = field(value.tag)
                got = _scalar(value) if name is not None else None
                if got is None:
                    continue
                row = rows.setdefault(int(event.step), {})
                first.setdefault(int(event.step), n)
                if name in row and not (name == "learning_rate" and value.tag.startswith("lr/")):
                    log.problem(f"event {n}: {value.tag} logged twice for step {event.step}")
                row.setdefault(name, got)
    except tf.errors.DataLossError as exc:
        log.problem(f"truncated or corrupt after {n} events ({str(exc).splitlines()[0][:100]})")
    except OSError as exc:
        log.problem(f"cannot be read ({exc.strerror or exc})")
    for step in sorted(rows):
        rec = {"step": step, **rows[step]}
        add_record(log, f"step {step}", rec, first[step])
    return log
