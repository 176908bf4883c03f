#!/usr/bin/env python3
"""Checks esdk's required-encryption-context messages with the Python ESDK and its MPL.

    PYTHON required_ec_with_python.py DIR

DIR is a folder written by `esdk-vectors encrypt DIR`; this reads its manifest-required-ec.json
(awses-decrypt version 5 `decryption-scenario` entries). Those messages keep the required pairs
out of the header, so decrypting them needs the pairs back (`encryption_context=` on decrypt)
and, for the CMM cases, the MPL's required-encryption-context CMM: neither is something
decrypt_with_python.py can express.

Key descriptions: `raw` (aes, or rsa with pkcs1 / oaep-mgf1) and
`required-encryption-context-cmm` over one of them. Positive scenarios must decrypt to the
expected plaintext, negative ones must fail. Prints failures and "N passed, N failed" last;
exit status 1 on any failure.
"""
import base64
import contextlib
import io
import json
import logging
import os
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders  # noqa: E402
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # noqa: E402
from aws_cryptographic_material_providers.mpl.models import (  # noqa: E402
    AesWrappingAlg,
    CreateDefaultCryptographicMaterialsManagerInput,
    CreateRawAesKeyringInput,
    CreateRawRsaKeyringInput,
    CreateRequiredEncryptionContextCMMInput,
)
from cryptography.hazmat.primitives import serialization  # noqa: E402

MPL = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
OAEP = {h: "OAEP_%s_MGF1" % h.upper() for h in ("sha1", "sha256", "sha384", "sha512")}


def keyring(keys, desc):
    key = keys[desc["key"]]
    if desc["encryption-algorithm"] == "aes":
        return MPL.create_raw_aes_keyring(
            CreateRawAesKeyringInput(
                key_namespace=desc["provider-id"],
                key_name=key["key-id"],
                wrapping_key=base64.b64decode(key["material"]),
                wrapping_alg=getattr(AesWrappingAlg, "ALG_AES%d_GCM_IV12_TAG16" % key["bits"]),
            )
        )
    private = key["material"].encode()
    public = (
        serialization.load_pem_private_key(private, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    padding = "PKCS1" if desc["padding-algorithm"] == "pkcs1" else OAEP[desc["padding-hash"]]
    return MPL.create_raw_rsa_keyring(
        CreateRawRsaKeyringInput(
            key_namespace=desc["provider-id"],
            key_name=key["key-id"],
            padding_scheme=padding,
            public_key=public,
            private_key=private,
        )
    )


def cmm(keys, desc):
    if desc["type"] == "required-encryption-context-cmm":
        underlying = cmm(keys, desc["underlying"])
        return MPL.create_required_encryption_context_cmm(
            CreateRequiredEncryptionContextCMMInput(
                underlying_cmm=underlying,
                required_encryption_context_keys=desc["requiredEncryptionContextKeys"],
            )
        )
    if desc["type"] != "raw":
        raise ValueError("unsupported key description %r" % desc["type"])
    return MPL.create_default_cryptographic_materials_manager(
        CreateDefaultCryptographicMaterialsManagerInput(keyring=keyring(keys, desc))
    )


def main(directory):
    def read(uri):
        with open(os.path.join(directory, uri[len("file://"):]), "rb") as f:
            return f.read()

    with open(os.path.join(directory, "manifest-required-ec.json")) as f:
        manifest = json.load(f)
    keys = json.loads(read(manifest["keys"]))["keys"]
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    passed = failed = 0
    for name, test in sorted(manifest["tests"].items()):
        s = test["decryption-scenario"]
        positive = s["type"] == "positive-esdk"
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                plaintext, _ = client.decrypt(
                    source=read(s["ciphertext"]),
                    materials_manager=cmm(keys, s["decryptKeyDescription"]),
                    encryption_context=s["reproduced-encryption-context"],
                )
            problem = None if positive and plaintext == read(s["result"]) else (
                "plaintext differs" if positive else "decrypted but must fail"
            )
        except Exception as e:  # noqa: BLE001 - any failure counts
            problem = None if not positive else "%s: %s" % (type(e).__name__, str(e)[:200])
        if problem is None:
            passed += 1
        else:
            failed += 1
            print("FAIL %s :: %s" % (name, problem), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
