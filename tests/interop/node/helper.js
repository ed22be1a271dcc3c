// Drives the official @aws-crypto/client-node for tests/interop/run.py.
// Protocol: one JSON request per stdin line, one JSON response per stdout line, same `id`.
//   {id, op: "encrypt", keys: [{namespace, name, pem}], oaep, context, frameLength, suiteId, data}
//   {id, op: "decrypt", keys: [...], oaep, data}
// `pem` is a file path; `data` is base64. Responses: {id, ok: true, data, header: {context,
// suite, frame}} (the message header as the SDK read or wrote it) or {id, ok: false, error}.
// Requests run concurrently; answers come back as they finish.
'use strict'
const { readFileSync } = require('fs')
const { createInterface } = require('readline')
const { createPrivateKey, createPublicKey } = require('crypto')
const {
  buildClient,
  CommitmentPolicy,
  MultiKeyringNode,
  RawRsaKeyringNode,
} = require('@aws-crypto/client-node')

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

function keyring ({ keys, oaep }) {
  const keyrings = keys.map(({ namespace, name, pem }) => {
    const text = readFileSync(pem, 'utf8')
    const rsaKey = text.includes('PRIVATE KEY')
      ? { privateKey: createPrivateKey(text), publicKey: createPublicKey(text) }
      : { publicKey: createPublicKey(text) }
    return new RawRsaKeyringNode({ keyNamespace: namespace, keyName: name, rsaKey, oaepHash: oaep })
  })
  const [generator, ...children] = keyrings
  return children.length ? new MultiKeyringNode({ generator, children }) : generator
}

async function handle (req) {
  const data = Buffer.from(req.data, 'base64')
  if (req.op === 'encrypt') {
    const { result, messageHeader } = await encrypt(keyring(req), data, {
      encryptionContext: req.context,
      frameLength: req.frameLength,
      suiteId: req.suiteId,
    })
    return { data: result, header: messageHeader }
  }
  if (req.op === 'decrypt') {
    const { plaintext, messageHeader } = await decrypt(keyring(req), data)
    return { data: plaintext, header: messageHeader }
  }
  throw new Error(`unknown op ${req.op}`)
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line)
  handle(req).then(
    ({ data, header }) => ({
      id: req.id,
      ok: true,
      data: Buffer.from(data).toString('base64'),
      header: {
        context: header.encryptionContext,
        suite: header.suiteId,
        frame: header.frameLength,
      },
    }),
    (err) => ({ id: req.id, ok: false, error: String(err && err.message ? err.message : err) })
  ).then((res) => process.stdout.write(JSON.stringify(res) + '\n'))
})
