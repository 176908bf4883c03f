"""Cache entry identifiers computed by the Python ESDK's own functions.

    python caching_entry_ids.py > caching_entry_ids.json      # write the vectors
    python caching_entry_ids.py --check caching_entry_ids.json  # compare (CI)

The Rust caching CMM's unit test reads caching_entry_ids.json and must produce the same bytes.
Needs the aws-encryption-sdk package (see shared/peers/setup.sh).
"""
import json
import sys

from aws_encryption_sdk.caches import (
    build_decryption_materials_cache_key,
    build_encryption_materials_cache_key,
)
from aws_encryption_sdk.identifiers import AlgorithmSuite, CommitmentPolicy
from aws_encryption_sdk.materials_managers import (
    DecryptionMaterialsRequest,
    EncryptionMaterialsRequest,
)
from aws_encryption_sdk.structures import EncryptedDataKey, MasterKeyInfo

PARTITIONS = ["", "partition-a", "1d5b3c62-9a7e-4b8e-a1f0-2c9d6e4f7a10", "caf\u00e9-\u5206\u533a"]
CONTEXTS = [
    {},
    {"a": "b"},
    {"z": "1", "a": "2", "\u00e9": "3", "aws-crypto-public-key": "AkZtdGVzdA=="},
]
SUITES = [None, 0x0478, 0x0578, 0x0178, 0x0378, 0x0014]
EDK_SETS = [
    [("raw-aes", b"key-1", b"\x01" * 48)],
    [
        ("aws-kms", b"arn:aws:kms:us-west-2:111122223333:key/abc", bytes(range(40))),
        ("raw-rsa", b"rsa-key", b"\xff" * 256),
        ("ns", b"\x00\x01\x02binary", b""),
    ],
]


def suite(i):
    return None if i is None else AlgorithmSuite.get_by_id(i)


def vectors():
    out = []
    for p in PARTITIONS:
        for ec in CONTEXTS:
            for s in SUITES:
                req = EncryptionMaterialsRequest(
                    encryption_context=ec,
                    frame_length=4096,
                    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
                    algorithm=suite(s),
                )
                key = build_encryption_materials_cache_key(partition=p.encode("utf-8"), request=req)
                out.append({"kind": "encrypt", "partition": p, "suite": s, "ec": ec, "id": key.hex()})
            for s in SUITES[1:]:
                for edks in EDK_SETS:
                    req = DecryptionMaterialsRequest(
                        algorithm=suite(s),
                        encrypted_data_keys={
                            EncryptedDataKey(
                                key_provider=MasterKeyInfo(provider_id=pid, key_info=info),
                                encrypted_data_key=ct,
                            )
                            for pid, info, ct in edks
                        },
                        encryption_context=ec,
                    )
                    key = build_decryption_materials_cache_key(partition=p.encode("utf-8"), request=req)
                    out.append(
                        {
                            "kind": "decrypt",
                            "partition": p,
                            "suite": s,
                            "ec": ec,
                            "edks": [
                                {"provider_id": pid, "provider_info": info.hex(), "ciphertext": ct.hex()}
                                for pid, info, ct in edks
                            ],
                            "id": key.hex(),
                        }
                    )
    return out


def main():
    got = vectors()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2], encoding="utf-8") as f:
            want = json.load(f)
        if got != want:
            print("cache entry identifiers differ from the Python ESDK's", file=sys.stderr)
            sys.exit(1)
        print(f"{len(got)} cache entry identifiers match the Python ESDK")
        return
    lines = ",\n".join(json.dumps(v, ensure_ascii=False) for v in got)
    sys.stdout.write(f"[\n{lines}\n]\n")


if __name__ == "__main__":
    main()
