"""What a distribution's metadata says about its license, as SPDX where that is unambiguous."""

from __future__ import annotations

from collections.abc import Sequence

# Trove classifiers that name exactly one SPDX license. Ambiguous ones ("BSD License",
# "GNU General Public License (GPL)") are kept as names rather than guessed.
_CLASSIFIER_SPDX = {
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: Zope Public License": "ZPL-2.1",
    "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": (
        "GPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": (
        "GPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": (
        "LGPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": (
        "LGPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": (
        "AGPL-3.0-or-later"
    ),
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
_MAX_NAME = 100  # a longer License field is usually the whole license text, not a name


def from_metadata(
    expression: str | None, license_field: str | None, classifiers: Sequence[str]
) -> tuple[str, ...]:
    """The licenses, most authoritative first: PEP 639 expression, classifiers, License field."""
    if expression and expression.strip():
        return (expression.strip(),)
    named = [c for c in classifiers if c != "License :: OSI Approved"]
    from_classifiers = tuple(
        sorted({_CLASSIFIER_SPDX.get(c, c.rsplit(" :: ", 1)[-1]) for c in named})
    )
    if from_classifiers:
        return from_classifiers
    field = (license_field or "").strip()
    if field and "\n" not in field and len(field) <= _MAX_NAME and field.upper() != "UNKNOWN":
        return (field,)
    return ()
