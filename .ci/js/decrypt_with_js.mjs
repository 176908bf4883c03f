// Decrypts every test of an awses-decrypt (version 2) manifest folder with the JavaScript ESDK
// (@aws-crypto/client-node) and prints PASS/FAIL per test and "N passed, N failed" last.
//
//   node decrypt_with_js.mjs DIR [-q]
//
// Raw AES, raw RSA and several keys (a multi-keyring) are supported. Raw AES keyrings use
// utf8Sorting, the JavaScript ESDK's option to serialize encryption contexts in UTF-8 byte order
// as every other ESDK does.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  RawRsaKeyringNode,
  MultiKeyringNode,
} from '@aws-crypto/client-node'
import { constants } from 'node:crypto'

const [dir, flag] = process.argv.slice(2)
const quiet = flag === '-q'
const resolve = (uri) => join(dir, uri.replace(/^file:\/\//, ''))
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
const keys = JSON.parse(readFileSync(resolve(manifest.keys), 'utf8')).keys
const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)

const aesSuites = {
  128: RawAesWrappingSuiteIdentifier.AES128_GCM_IV12_TAG16_NO_PADDING,
  192: RawAesWrappingSuiteIdentifier.AES192_GCM_IV12_TAG16_NO_PADDING,
  256: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
}

function keyring(mk) {
  if (mk.type !== 'raw') throw new Error(`unsupported master key type ${mk.type}`)
  const key = keys[mk.key]
  const material = Array.isArray(key.material) ? key.material.join(key['line-separator'] || '') : key.material
  const keyName = key['key-id'] || mk.key
  if (mk['encryption-algorithm'] === 'aes') {
    return new RawAesKeyringNode({
      keyName,
      keyNamespace: mk['provider-id'],
      unencryptedMasterKey: new Uint8Array(Buffer.from(material, 'base64')),
      wrappingSuite: aesSuites[Number(key.bits)],
      utf8Sorting: true,
    })
  }
  if (mk['encryption-algorithm'] === 'rsa') {
    if (key.type !== 'private') throw new Error('decrypting with RSA needs a private key')
    const oaep = mk['padding-algorithm'] === 'oaep-mgf1'
    return new RawRsaKeyringNode({
      keyName,
      keyNamespace: mk['provider-id'],
      rsaKey: { privateKey: material },
      padding: oaep ? constants.RSA_PKCS1_OAEP_PADDING : constants.RSA_PKCS1_PADDING,
      oaepHash: oaep ? mk['padding-hash'] : undefined,
    })
  }
  throw new Error(`unknown encryption-algorithm ${mk['encryption-algorithm']}`)
}

let passed = 0
let failed = 0
for (const [name, test] of Object.entries(manifest.tests)) {
  try {
    const mks = test['master-keys']
    const kr = mks.length === 1 ? keyring(mks[0]) : new MultiKeyringNode({ children: mks.map(keyring) })
    const ciphertext = readFileSync(resolve(test.ciphertext))
    const expected = test.result.output ? readFileSync(resolve(test.result.output.plaintext)) : null
    let out
    try {
      out = await decrypt(kr, ciphertext)
    } catch (e) {
      if (expected === null) { passed++; if (!quiet) console.log(`PASS ${name}`); continue }
      throw e
    }
    if (expected === null) throw new Error('decryption succeeded but must fail')
    if (!Buffer.from(out.plaintext).equals(expected)) throw new Error('plaintext differs')
    const ec = out.messageHeader.encryptionContext
    for (const [k, v] of Object.entries(test['expected-encryption-context'] || {})) {
      if (ec[k] !== v) throw new Error(`encryption context lacks ${k}=${v}`)
    }
    passed++
    if (!quiet) console.log(`PASS ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
