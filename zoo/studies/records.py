"""An append-only log of measurements, one JSON object per line, that a study resumes from.

Each measurement is written (and fsynced) the moment it is made, under a key that names it;
a rerun skips every key already present. A process killed mid-line leaves at most one
partial last line, which is dropped on reading, so nothing measured before it is lost.
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.atomic import append_line, json_safe, refuse_link


class Records:
    def __init__(self, path):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        refuse_link(self.path)  # a study's log is rewritten and appended to: never a link
        if not self.path.is_file():
            return
        text = self.path.read_text()
        lines = text.split("\n")
        if not text.endswith("\n") and text:
            # the last line of a killed write: keep it if it is whole, then end it properly
            try:
                json.loads(lines[-1])
                keep = lines
            except json.JSONDecodeError:
                keep = lines[:-1]
            from zoo.atomic import write_atomic

            write_atomic(self.path, "".join(line + "\n" for line in keep if line.strip()))
            lines = keep
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{self.path}:{number} is not a JSON line; remove that line "
                                 "to measure it again") from None
            self.rows[row["key"]] = row

    def __contains__(self, key) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, key, **values) -> dict:
        # JSON has no NaN: a measurement that is not a number (a plain net's transition
        # cannot be deleted) is stored as null
        row = json_safe({"key": key, **values})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_line(self.path, json.dumps(row, allow_nan=False))
        self.rows[key] = row
        return row

    def discard(self, prefix) -> int:
        """Forget every measurement whose key starts with ``prefix`` (so a rerun measures it
        again, e.g. after a fix to the code that made it); the file is rewritten atomically.
        Returns how many were dropped."""
        drop = [key for key in self.rows if key.startswith(prefix)]
        if drop:
            from zoo.atomic import write_atomic

            for key in drop:
                del self.rows[key]
            write_atomic(self.path, "".join(json.dumps(row, allow_nan=False) + "\n"
                                            for row in self.rows.values()))
        return len(drop)

    def of(self, kind) -> list[dict]:
        """Every row whose ``kind`` is ``kind``, in the order measured."""
        return [r for r in self.rows.values() if r.get("kind") == kind]
