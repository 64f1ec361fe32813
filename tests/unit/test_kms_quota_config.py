"""``[defaults] kms_request_quotas``: an account whose KMS quotas were raised through Service Quotas (every KMS request
quota is adjustable) says so, and amishare paces its KMS calls to the raised quota instead of KMS's default.
Validated before any AWS call, each error naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amishare import config
from amishare.aws.pacer import KMS_QUOTAS, kms_bucket
from amishare.errors import ConfigError


def test_a_raised_quota_is_read_and_paced_to() -> None:
    parsed = config.parse({"defaults": {"kms_request_quotas": {"CreateGrant": 200, "RevokeGrant": 150.5}}}, Path("a"))
    quotas = parsed.defaults.kms_request_quotas
    assert quotas == {"CreateGrant": 200.0, "RevokeGrant": 150.5}
    assert kms_bucket("CreateGrant", quotas=quotas) == pytest.approx((1.0, 199 * 0.8))
    assert kms_bucket("CreateGrant") == pytest.approx((1.0, (KMS_QUOTAS["CreateGrant"] - 1) * 0.8))
    # an operation the table does not name keeps KMS's default; one with no quota is not paced
    assert kms_bucket("PutKeyPolicy", quotas=quotas) == kms_bucket("PutKeyPolicy")
    assert kms_bucket("Encrypt", quotas=quotas) is None


def test_by_default_no_quota_is_raised() -> None:
    assert config.parse({"defaults": {}}, Path("a")).defaults.kms_request_quotas == {}


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (200, "must be a table of KMS operation = requests per second"),
        ({"Encrypt": 100}, "'Encrypt', which is not a KMS operation amishare calls: use one of CreateAlias"),
        ({"CreateGrant": 0}, "kms_request_quotas.CreateGrant = 0: must be the requests a second"),
        ({"CreateGrant": "fast"}, "KMS's default is 50"),
        ({"CreateGrant": True}, "kms_request_quotas.CreateGrant = True"),
    ],
)
def test_a_bad_quota_names_the_file_the_key_and_the_fix(value: Any, said: str) -> None:
    with pytest.raises(ConfigError, match=r"amishare\.toml: \[defaults\] kms_request_quotas") as caught:
        config.parse({"defaults": {"kms_request_quotas": value}}, Path("amishare.toml"))
    assert said in str(caught.value)
