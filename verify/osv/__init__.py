"""OSV advisories: reading records and offline databases as hostile input, matching PEP 440
versions, and scoring severity. The scan's sources and the deploy gate's `--db` share it, so
both match the same way by construction."""
