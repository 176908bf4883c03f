#!/usr/bin/env python3
"""1 KiB round trips (encrypt + decrypt) per CPU-second with the Python reference ESDK, the same
raw AES-256 wrapping key as ../../../shared/peers/bench_python.py. Prints JSON lines for
`esdk-compare report`.
Usage: VENV/bin/python python_small.py [--secs 2]"""
import argparse, json, os, time, warnings
warnings.filterwarnings("ignore")
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey

ap = argparse.ArgumentParser()
ap.add_argument("--secs", type=float, default=2.0)
a = ap.parse_args()
mk = RawMasterKey(provider_id="bench", key_id=b"aes-256",
                  wrapping_key=WrappingKey(WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, os.urandom(32), EncryptionKeyType.SYMMETRIC))
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
pt = os.urandom(1024)
for sid in (0x0478, 0x0578):
    alg = Algorithm.get_by_id(sid)
    n, w, c = 0, time.perf_counter(), time.process_time()
    while True:
        for _ in range(10):
            ct, _ = client.encrypt(source=pt, key_provider=mk, algorithm=alg)
            out, _ = client.decrypt(source=ct, key_provider=mk)
            assert out == pt
        n += 10
        cpu = time.process_time() - c
        if cpu >= a.secs:
            break
    print(json.dumps({"impl": "python 4.0.7", "kind": "small", "suite": "0x%04X" % sid,
                      "cpu": round(n / cpu, 1), "wall": round(n / (time.perf_counter() - w), 1)}), flush=True)
