"""KMS cryptography: Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext), ReEncrypt.

The ciphertext is an opaque envelope naming its key: enough to prove who may use which key, nothing secret.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.kms.access import KmsCalls
from amishare.sandbox.state import Key
from amishare.sandbox.wire.protocol import AwsFault


def _seal(key: Key, plaintext: bytes) -> bytes:
    return b"amishare-sandbox:" + key.arn.encode() + b":" + base64.b64encode(plaintext)


def _open(blob: bytes) -> tuple[str, bytes]:
    try:
        prefix, rest = blob.split(b":", 1)
        arn, payload = rest.rsplit(b":", 1)
        if prefix != b"amishare-sandbox":
            raise ValueError(prefix)
        return arn.decode(), base64.b64decode(payload)
    except ValueError as exc:
        raise AwsFault("InvalidCiphertextException", "The ciphertext is not valid.") from exc


class CryptoHandlers(KmsCalls):
    """The KMS cryptographic operations."""

    def Encrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "Encrypt", tokens=p.get("GrantTokens"))
        plaintext = base64.b64decode(p.get("Plaintext", ""))
        return {"CiphertextBlob": _seal(key, plaintext), "KeyId": key.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def Decrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        arn, plaintext = _open(base64.b64decode(p.get("CiphertextBlob", "")))
        key = self._use(caller, region, p.get("KeyId") or arn, "Decrypt", tokens=p.get("GrantTokens"))
        if key.arn != arn:
            raise AwsFault(
                "IncorrectKeyException", "The key ID in the request does not identify the key used to encrypt"
            )
        return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def GenerateDataKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "GenerateDataKey", tokens=p.get("GrantTokens"))
        plaintext = uuid.uuid4().bytes + uuid.uuid4().bytes
        return {"CiphertextBlob": _seal(key, plaintext), "Plaintext": plaintext, "KeyId": key.arn}

    def GenerateDataKeyWithoutPlaintext(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "GenerateDataKeyWithoutPlaintext", tokens=p.get("GrantTokens"))
        return {"CiphertextBlob": _seal(key, uuid.uuid4().bytes * 2), "KeyId": key.arn}

    def ReEncrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        arn, plaintext = _open(base64.b64decode(p.get("CiphertextBlob", "")))
        source = self._use(caller, region, p.get("SourceKeyId") or arn, "ReEncryptFrom", tokens=p.get("GrantTokens"))
        destination = self._use(caller, region, p.get("DestinationKeyId"), "ReEncryptTo", tokens=p.get("GrantTokens"))
        return {"CiphertextBlob": _seal(destination, plaintext), "SourceKeyId": source.arn, "KeyId": destination.arn}
