"""Reading a DICOM SR's content tree in tests (the report tests and the PACS round trip)."""

from __future__ import annotations


def walk(items, out=None):
    """Every content item under ``items``, depth first."""
    out = [] if out is None else out
    for item in items:
        out.append(item)
        if "ContentSequence" in item:
            walk(item.ContentSequence, out)
    return out


def measurement_groups(sr):
    """TID 1501 measurement groups (125007) keyed by tracking identifier (112039)."""
    groups = {}
    for item in walk(sr.ContentSequence):
        if item.ValueType == "CONTAINER" and item.ConceptNameCodeSequence[0].CodeValue == "125007":
            ident = next(c.TextValue for c in item.ContentSequence
                         if c.ConceptNameCodeSequence[0].CodeValue == "112039")
            groups[ident] = item
    return groups
