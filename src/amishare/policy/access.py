"""What a principal needs on a KMS key to copy or launch an encrypted image: the one definition.

docs/aws-facts.md section 2. Everything else derives from these tuples: the statements amishare writes
into a source key's policy (``policy.key_policy``), the operations of the grants it creates (share with
``--key-access grant``, Auto Scaling), how ``show`` judges key access (``checks.gates``), and the IAM
permissions the action kinds declare (``engine.kinds``). Pure data.
"""

from __future__ import annotations

# A target account copying or launching an image encrypted with the SOURCE key, through EC2:
# the key policy actions amishare grants (never kms:* nor key administration) ...
SOURCE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*", "kms:GenerateDataKey*")
# ... the same as KMS grant operations (a grant names operations, not IAM actions) ...
SOURCE_KEY_GRANT_OPERATIONS = (
    "Decrypt",
    "DescribeKey",
    "CreateGrant",
    "ReEncryptFrom",
    "GenerateDataKeyWithoutPlaintext",
)
# ... and the operations EC2 performs on the target's behalf, which an evaluation must find allowed.
SOURCE_KEY_USED_OPERATIONS = ("DescribeKey", "CreateGrant", "Decrypt", "ReEncryptFrom")

# ... and what EC2 does with it for a principal LAUNCHING from the image (EBS User Guide, "Permissions for IAM
# users"): the volumes keep the snapshots' key.
LAUNCH_KEY_OPERATIONS = ("DescribeKey", "CreateGrant", "Decrypt", "GenerateDataKeyWithoutPlaintext")

# The key a copy is encrypted WITH (the share key of a re-encryption or staging copy, or a
# destination's own key): what the copying principal needs on it, through EC2.
COPY_KEY_ACTIONS = (
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKeyWithoutPlaintext",
)

# Auto Scaling launching from a shared encrypted image: the grant a target gives its service-linked role.
AUTOSCALING_ROLE = "arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
AUTOSCALING_GRANT_OPERATIONS = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
)


def via_ec2(region: str) -> str:
    """The ``kms:ViaService`` value of EBS calls made through EC2 in ``region``."""
    return f"ec2.{region}.amazonaws.com"


def account_root(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def grant_name(account: str) -> str:
    """The name of the grant amishare creates on a source key for ``account`` (``--key-access grant``)."""
    return f"amishare-{account}"


def run_grant_name(account: str, run_id: str) -> str:
    """The name of a grant one run creates for ``account`` (a transfer's): another run's is never this one."""
    return f"{grant_name(account)}-{run_id}"
