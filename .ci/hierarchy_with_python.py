#!/usr/bin/env python3
"""The hierarchical keyring and its DynamoDB branch key store, esdk against the Python MPL.

    PYTHON hierarchy_with_python.py JOB.json OUT.json

Run by tests/hierarchy.rs (`python_mpl_reads_our_store_and_we_read_its`) against the same local
moto (DynamoDB + KMS) the Rust test uses. JOB.json names the endpoint, Region, table, logical
key store name and KMS key ARN, and lists messages esdk encrypted under branch keys that esdk's
key store created (and rotated). This script, with the Python ESDK 4 and the MPL's own KeyStore
and hierarchical keyring:

1. reads each of esdk's branch keys with the MPL KeyStore (GetActiveBranchKey, GetBeaconKey) and
   reports the active version and custom encryption context it sees;
2. decrypts each of esdk's messages, which must give the expected plaintext;
3. creates a branch key of its own (custom encryption context {"origin": "python"}), encrypts
   a message, rotates the key (VersionKey), encrypts another, and writes both to OUT.json for
   esdk to decrypt.

Prints "OK ..." per check; exits non-zero on the first failure.
"""
import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

import boto3  # noqa: E402
import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402
from aws_cryptographic_material_providers.keystore import KeyStore  # noqa: E402
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig  # noqa: E402
from aws_cryptographic_material_providers.keystore.models import (  # noqa: E402
    CreateKeyInput,
    GetActiveBranchKeyInput,
    GetBeaconKeyInput,
    KMSConfigurationKmsKeyArn,
    VersionKeyInput,
)
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders  # noqa: E402
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # noqa: E402
from aws_cryptographic_material_providers.mpl.models import (  # noqa: E402
    CreateAwsKmsHierarchicalKeyringInput,
)


def main():
    job = json.load(open(sys.argv[1]))
    session = dict(
        endpoint_url=job["endpoint"],
        region_name=job["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    store = KeyStore(
        config=KeyStoreConfig(
            ddb_table_name=job["table"],
            logical_key_store_name=job["logical"],
            kms_configuration=KMSConfigurationKmsKeyArn(job["kms_arn"]),
            ddb_client=boto3.client("dynamodb", **session),
            kms_client=boto3.client("kms", **session),
        )
    )
    mpl = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )

    def keyring(branch_key_id):
        return mpl.create_aws_kms_hierarchical_keyring(
            CreateAwsKmsHierarchicalKeyringInput(
                key_store=store, branch_key_id=branch_key_id, ttl_seconds=600
            )
        )

    out = {"ours": [], "theirs": {}}
    for case in job["messages"]:
        bk = case["branch_key_id"]
        active = store.get_active_branch_key(
            GetActiveBranchKeyInput(branch_key_identifier=bk)
        ).branch_key_materials
        beacon = store.get_beacon_key(GetBeaconKeyInput(branch_key_identifier=bk))
        assert len(beacon.beacon_key_materials.beacon_key) == 32
        plaintext, _ = client.decrypt(
            source=bytes.fromhex(case["ciphertext"]), keyring=keyring(bk)
        )
        assert plaintext == bytes.fromhex(case["plaintext"]), case["name"]
        print("OK python decrypts", case["name"])
        out["ours"].append(
            {
                "name": case["name"],
                "active_version": active.branch_key_version,
                "encryption_context": {
                    k.decode() if isinstance(k, bytes) else k: v.decode()
                    if isinstance(v, bytes)
                    else v
                    for k, v in active.encryption_context.items()
                },
            }
        )

    bk = store.create_key(
        CreateKeyInput(
            branch_key_identifier=job["python_branch_key_id"],
            encryption_context={"origin": "python"},
        )
    ).branch_key_identifier
    messages = []
    for i in range(2):
        if i == 1:
            store.version_key(VersionKeyInput(branch_key_identifier=bk))
        plaintext = ("python to esdk, version %d" % (i + 1)).encode()
        ciphertext, _ = client.encrypt(
            source=plaintext,
            keyring=keyring(bk),
            encryption_context={"writer": "python"},
        )
        version = store.get_active_branch_key(
            GetActiveBranchKeyInput(branch_key_identifier=bk)
        ).branch_key_materials.branch_key_version
        messages.append(
            {"ciphertext": ciphertext.hex(), "plaintext": plaintext.hex(), "version": version}
        )
    print("OK python wrote", len(messages), "messages under", bk)
    out["theirs"] = {"branch_key_id": bk, "messages": messages}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
