"""A student's whole record as one zip archive (a family's or school's request for its data).

The archive holds ``student.json`` (the student, its school, goals with their history, and the
access log's entries about it), and per session ``sessions/<id>/session.json`` (facts,
devices with their calibration records, events and marks, metric snapshots) and one
``sessions/<id>/<device>.csv`` per device with every sample as recorded: sequence number,
device time (s) and raw counts per channel. Raw counts and the calibration records are the
whole truth; newtons follow from them (docs/calibration.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

from finemotor.recording import Samples
from finemotor.server.records import Records
from finemotor.server.store import Store, Student
from finemotor.sync.wire import device_description


def _csv(samples: Samples) -> bytes:
    out = io.StringIO()
    out.write(",".join(("seq", "t_s", *(f"{c}_counts" for c in samples.channels))) + "\n")
    for i in range(samples.seq.shape[0]):
        row = [str(int(samples.seq[i])), repr(float(samples.t[i]))]
        row += [str(int(v)) for v in samples.counts[i]]
        out.write(",".join(row) + "\n")
    return out.getvalue().encode()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


async def student_archive(store: Store, records: Records, student: Student) -> bytes:
    """Everything the server holds about ``student``, as zip bytes."""
    files: dict[str, bytes] = {}
    audit = [e.__dict__ for e in await store.audit(student.code, limit=10000)]
    files["student.json"] = json.dumps(
        {
            "student": student.code,
            "school": student.school,
            "goals": await store.goals(student, history=True),
            "access_log": audit,
        },
        indent=2,
    ).encode()
    for sess in await records.sessions_of(student):
        sid = sess["id"]
        devices = await records.devices(sid)
        meta: dict[str, Any] = dict(sess)
        meta["devices"] = [device_description(d) for d in devices]
        meta["events"] = [e.__dict__ for e in await records.events(sid)]
        meta["metrics"] = await records.metrics(sid)
        files[f"sessions/{sid}/session.json"] = json.dumps(meta, indent=2, default=str).encode()
        for d in devices:
            samples = await records.load_samples(sid, d.name)
            files[f"sessions/{sid}/{d.name}.csv"] = await asyncio.to_thread(_csv, samples)
    return await asyncio.to_thread(_zip, files)
