// Drives the official @aws-crypto/client-node KMS keyring (over AWS SDK v3 @aws-sdk/client-kms)
// for tests/kms/run.py. One JSON request as argv[2] or on stdin:
//   {op: "encrypt"|"decrypt", endpoint, region, accessKeyId, secretAccessKey, keyArn,
//    context, data}            (`data` is base64; `context` only for encrypt)
//   {op: "sign"|"mac", endpoint, region, accessKeyId, secretAccessKey, keyArn, algorithm,
//    data}                     (AWS SDK v3 alone: Sign then Verify, or GenerateMac then
//                               VerifyMac; prints the signature or MAC)
// Prints one JSON line: {ok: true, data, context} (base64 output and the message header's
// encryption context) or {ok: false, error, name}, and exits 0 or 1 accordingly.
import { readFileSync } from 'node:fs'
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node'
// The keyring calls client.generateDataKey/encrypt/decrypt, so it needs the aggregated `KMS`
// class (a KMSClient with the command methods), not the bare `KMSClient` (send() only).
import { KMS } from '@aws-sdk/client-kms'

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

async function handle (req) {
  const { endpoint, region, accessKeyId, secretAccessKey, keyArn } = req
  const kms = new KMS({ endpoint, region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 })
  const keyring = new KmsKeyringNode({
    generatorKeyId: keyArn,
    keyIds: [],
    clientProvider: () => kms,
  })
  const data = Buffer.from(req.data, 'base64')
  if (req.op === 'encrypt') {
    const { result, messageHeader } = await encrypt(keyring, data, { encryptionContext: req.context || {} })
    return { data: result, context: messageHeader.encryptionContext }
  }
  if (req.op === 'sign') {
    const { Signature } = await kms.sign({ KeyId: keyArn, Message: data, SigningAlgorithm: req.algorithm })
    const { SignatureValid } = await kms.verify({
      KeyId: keyArn, Message: data, Signature, SigningAlgorithm: req.algorithm,
    })
    if (SignatureValid !== true) throw new Error(`Verify answered SignatureValid ${SignatureValid}`)
    return { data: Signature }
  }
  if (req.op === 'mac') {
    const { Mac } = await kms.generateMac({ KeyId: keyArn, Message: data, MacAlgorithm: req.algorithm })
    const { MacValid } = await kms.verifyMac({ KeyId: keyArn, Message: data, Mac, MacAlgorithm: req.algorithm })
    if (MacValid !== true) throw new Error(`VerifyMac answered MacValid ${MacValid}`)
    return { data: Mac }
  }
  if (req.op === 'decrypt') {
    const { plaintext, messageHeader } = await decrypt(keyring, data)
    return { data: plaintext, context: messageHeader.encryptionContext }
  }
  throw new Error(`unknown op ${req.op}`)
}

// The ESDK wraps KMS failures; keep the whole cause chain so the caller sees the AWS name.
function describe (e) {
  const parts = []
  for (let c = e; c && parts.length < 8; c = c.cause) parts.push(`${c.name}: ${c.message}`)
  if (e && Array.isArray(e.errors)) for (const c of e.errors) parts.push(`${c.name}: ${c.message}`)
  return parts.join(' <- ')
}

const text = process.argv[2] ?? readFileSync(0, 'utf8')
try {
  const { data, context } = await handle(JSON.parse(text))
  process.stdout.write(JSON.stringify({ ok: true, data: Buffer.from(data).toString('base64'), context }) + '\n')
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, name: e?.name, error: describe(e) }) + '\n')
  process.exitCode = 1
}
