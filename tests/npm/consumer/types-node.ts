// Compiled by types.test.mjs without the DOM lib (tsconfig.node.json: es2022 and @types/node),
// as a Node-only project is: Node streams as input, the worker entry's types.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';

import { RawRsaKeyring, decrypt, encrypt, init } from 'cipherdrop';
import * as worker from 'cipherdrop/worker';

export async function nodeStreams(privateKey: string): Promise<ReadableStream<Uint8Array>> {
    const keyring = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'k', privateKey });
    await init(await readFile('cipherdrop_bg.wasm'));
    const { result } = await encrypt(keyring, createReadStream('in'));
    const { plaintext } = await decrypt(keyring, Readable.fromWeb(result));
    void worker;
    return plaintext;
}
