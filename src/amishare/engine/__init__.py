"""The engine: what a plan is made of and how it runs.

``action`` (the Action base class, ActionKind), ``kinds`` (the action kinds and their registry KINDS),
``permissions`` (the IAM permissions they declare), ``refs`` (``@key`` references), ``codec`` (field
values as JSON), ``plan`` (Plan); ``steps``, ``executor``, ``journal`` and ``lease`` run plans.
"""
