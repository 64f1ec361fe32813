"""A local AWS for amishare's demo, tests and benchmarks: moto's server plus AMI-sharing truth.

moto (the standard AWS emulator) gets cross-account image sharing, encryption and KMS
wrong (docs/aws-facts.md section 8); this package runs moto behind an overlay that answers those
calls as AWS documents them. See docs/sandbox.md for every rule and its source.

    from amishare.sandbox import Sandbox
    with Sandbox(copy_seconds_per_gib=0.0) as sb:
        ec2 = sb.session("111111111111", region="us-east-1").client("ec2")
"""

from __future__ import annotations

from amishare.errors import SandboxError, UnsupportedMoto
from amishare.sandbox.server import Sandbox
from amishare.sandbox.state import Call, Settings

__all__ = ["Call", "Sandbox", "SandboxError", "Settings", "UnsupportedMoto"]
