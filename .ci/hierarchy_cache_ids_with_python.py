#!/usr/bin/env python3
"""The hierarchical keyring's branch key cache identifiers, esdk against the Python MPL.

    PYTHON hierarchy_cache_ids_with_python.py JOB.json OUT.json

Run by tests/cache_types.rs (`cache_identifiers_match_the_python_mpl`). JOB.json lists cases:
a partition ID, a logical key store name, a branch key ID, version and key (hex), the two
cache identifiers esdk's keyring used (for the active key and for the version), and a message
esdk encrypted under that branch key.

For each case this script puts the branch key into a Python MPL cache under esdk's two
identifiers and nowhere else, then builds the MPL's hierarchical keyring with that cache
(`Shared`), the case's partition ID, and a key store whose DynamoDB and KMS endpoints refuse
every connection: the keyring can only work from the cache, so

1. decrypting esdk's message proves the MPL computes esdk's version identifier;
2. encrypting a message proves it computes esdk's active-key identifier (OUT.json returns the
   message, which esdk decrypts with the same branch key).

A third check turns the logic around: the same keyring with another partition ID must fail,
since it finds nothing in the cache and cannot reach the key store.

Prints "OK ..." per check; exits non-zero on the first failure.
"""
import json
import logging
import sys
import time
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402
from aws_cryptographic_material_providers.keystore import KeyStore  # noqa: E402
from aws_cryptographic_material_providers.keystore.config import KeyStoreConfig  # noqa: E402
from aws_cryptographic_material_providers.keystore.models import (  # noqa: E402
    BranchKeyMaterials,
    KMSConfigurationKmsKeyArn,
)
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders  # noqa: E402
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # noqa: E402
from aws_cryptographic_material_providers.mpl.models import (  # noqa: E402
    CacheTypeDefault,
    CacheTypeShared,
    CreateAwsKmsHierarchicalKeyringInput,
    CreateCryptographicMaterialsCacheInput,
    DefaultCache,
    MaterialsBranchKey,
    PutCacheEntryInput,
)

DEAD = "http://127.0.0.1:9"
KMS_ARN = "arn:aws:kms:us-west-2:111122223333:key/00000000-0000-0000-0000-000000000000"


def dead_client(service):
    return boto3.client(
        service,
        endpoint_url=DEAD,
        region_name="us-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )


def main():
    job = json.load(open(sys.argv[1]))
    mpl = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    out = []
    for case in job["cases"]:
        cache = mpl.create_cryptographic_materials_cache(
            CreateCryptographicMaterialsCacheInput(
                cache=CacheTypeDefault(DefaultCache(entry_capacity=10))
            )
        )
        now = int(time.time())
        materials = MaterialsBranchKey(
            BranchKeyMaterials(
                branch_key_identifier=case["branch_key_id"],
                branch_key_version=case["version"],
                encryption_context={},
                branch_key=bytes.fromhex(case["branch_key"]),
            )
        )
        for identifier in (case["active_id"], case["version_id"]):
            cache.put_cache_entry(
                PutCacheEntryInput(
                    identifier=bytes.fromhex(identifier),
                    materials=materials,
                    creation_time=now,
                    expiry_time=now + 600,
                )
            )
        store = KeyStore(
            config=KeyStoreConfig(
                ddb_table_name="no-such-table",
                logical_key_store_name=case["logical"],
                kms_configuration=KMSConfigurationKmsKeyArn(KMS_ARN),
                ddb_client=dead_client("dynamodb"),
                kms_client=dead_client("kms"),
            )
        )

        def keyring(partition_id):
            return mpl.create_aws_kms_hierarchical_keyring(
                CreateAwsKmsHierarchicalKeyringInput(
                    key_store=store,
                    branch_key_id=case["branch_key_id"],
                    ttl_seconds=600,
                    cache=CacheTypeShared(cache),
                    partition_id=partition_id,
                )
            )

        name = case["name"]
        ours = keyring(case["partition_id"])
        plaintext, _ = client.decrypt(source=bytes.fromhex(case["ciphertext"]), keyring=ours)
        assert plaintext == bytes.fromhex(case["plaintext"]), name
        print("OK the MPL found the version entry under esdk's identifier:", name)
        message = ("python, from the cache: " + name).encode()
        ciphertext, _ = client.encrypt(source=message, keyring=ours)
        print("OK the MPL found the active-key entry under esdk's identifier:", name)
        try:
            client.encrypt(source=message, keyring=keyring(case["partition_id"] + "-other"))
        except Exception:  # the key store is unreachable: the expected outcome
            print("OK another partition ID finds nothing:", name)
        else:
            raise AssertionError("another partition ID was served from the cache: " + name)
        out.append({"name": name, "ciphertext": ciphertext.hex(), "plaintext": message.hex()})
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
