#!/usr/bin/env python3
"""The AWS KMS RSA and AWS KMS ECDH keyrings, esdk against the Python MPL.

    PYTHON kms_asymmetric_with_python.py JOB.json OUT.json

Run by tests/kms_asymmetric.rs (`python_mpl_kms_rsa_and_ecdh_interop`) against the fixed local
KMS (../shared/kms/moto_kms_esdk.py). JOB.json names the endpoint and Region, an RSA key (ARN,
PEM public key), two ECC_NIST_P256 key agreement keys (sender, recipient; the recipient's DER
public key), and esdk's messages. With the Python ESDK 4 and the MPL's own keyrings this script:

1. decrypts esdk's KMS RSA messages (each algorithm) with the MPL's AWS KMS RSA keyring, and
   esdk's KMS ECDH message with the MPL's KmsPublicKeyDiscovery keyring for the recipient;
2. encrypts one message per keyring (RSA with each algorithm, ECDH sender -> recipient) and
   writes them to OUT.json for esdk to decrypt.

Prints "OK ..." per check; exits non-zero on the first failure.
"""
import base64
import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

import boto3  # noqa: E402
import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy  # noqa: E402
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders  # noqa: E402
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # noqa: E402
from aws_cryptographic_material_providers.mpl.models import (  # noqa: E402
    CreateAwsKmsEcdhKeyringInput,
    CreateAwsKmsRsaKeyringInput,
    KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey,
    KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery,
    KmsPrivateKeyToStaticPublicKeyInput,
    KmsPublicKeyDiscoveryInput,
)


def main():
    job = json.load(open(sys.argv[1]))
    kms = boto3.client(
        "kms",
        endpoint_url=job["endpoint"],
        region_name=job["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    mpl = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    suite = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY

    def rsa(alg):
        return mpl.create_aws_kms_rsa_keyring(
            CreateAwsKmsRsaKeyringInput(
                kms_key_id=job["rsa"]["arn"],
                encryption_algorithm=alg,
                public_key=job["rsa"]["pem"].encode(),
                kms_client=kms,
            )
        )

    def ecdh(scheme):
        return mpl.create_aws_kms_ecdh_keyring(
            CreateAwsKmsEcdhKeyringInput(
                key_agreement_scheme=scheme,
                curve_spec="ECC_NIST_P256",
                kms_client=kms,
            )
        )

    recipient_discovery = ecdh(
        KmsEcdhStaticConfigurationsKmsPublicKeyDiscovery(
            KmsPublicKeyDiscoveryInput(recipient_kms_identifier=job["ecdh"]["recipient_arn"])
        )
    )
    sender_to_recipient = ecdh(
        KmsEcdhStaticConfigurationsKmsPrivateKeyToStaticPublicKey(
            KmsPrivateKeyToStaticPublicKeyInput(
                sender_kms_identifier=job["ecdh"]["sender_arn"],
                recipient_public_key=base64.b64decode(job["ecdh"]["recipient_der"]),
            )
        )
    )

    for case in job["messages"]:
        keyring = rsa(case["alg"]) if case["kind"] == "rsa" else recipient_discovery
        plaintext, _ = client.decrypt(source=bytes.fromhex(case["ciphertext"]), keyring=keyring)
        assert plaintext == bytes.fromhex(case["plaintext"]), case["name"]
        print("OK python decrypts", case["name"])

    out = []
    for name, kind, alg, keyring in [
        ("python-rsa-sha1", "rsa", "RSAES_OAEP_SHA_1", rsa("RSAES_OAEP_SHA_1")),
        ("python-rsa-sha256", "rsa", "RSAES_OAEP_SHA_256", rsa("RSAES_OAEP_SHA_256")),
        ("python-ecdh", "ecdh", None, sender_to_recipient),
    ]:
        plaintext = ("python to esdk: %s" % name).encode()
        ciphertext, _ = client.encrypt(
            source=plaintext,
            keyring=keyring,
            algorithm=suite,
            encryption_context={"writer": "python"},
        )
        out.append(
            {"name": name, "kind": kind, "alg": alg,
             "ciphertext": ciphertext.hex(), "plaintext": plaintext.hex()}
        )
    print("OK python wrote", len(out), "messages")
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
