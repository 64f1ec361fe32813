"""Renderers (pure): what amishare shows, as text or as JSON documents, one module per kind of output.

``plan`` (plans and their results), ``transfer`` (a transfer's destinations and its notification), ``runs``
(the journal), ``checks`` (show, verify, doctor, shared-with-me, audit), ``table`` (``--output table`` of any
document), ``errors`` (an error as JSON), ``audit_report`` (the audit's CSV and HTML files).

The JSON documents carry a ``schema`` name with a version; fields are only ever added within a
version (docs/output.md describes them).
"""
