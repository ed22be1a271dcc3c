// Compiled by types.test.mjs with `tsc --strict --noEmit` against the installed package:
// checks that index.d.ts describes the API as the README and the tests use it.
import {
    AlgorithmSuite, CipherdropError, CommitmentPolicy, DecryptError, EncryptError, KeyError,
    KmsKeyring, MultiKeyring, RawRsaKeyring, WrappingKey, decrypt, decryptStream, encrypt, encryptStream,
    init, version,
} from 'cipherdrop';
import type {
    DecryptErrorCode, EncryptedDataKey, Keyring, MessageHeader, Progress,
} from 'cipherdrop';
import type * as defaultEntry from 'cipherdrop';
import * as liteEntry from 'cipherdrop/lite';

export async function roundTrip(publicKey: string, privateKey: string): Promise<Uint8Array> {
    await init();
    const v: string = version();
    void v;
    const sender = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'k', publicKey });
    const recipient = await RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'k', privateKey, oaepHash: 'SHA-512' });
    const multi = new MultiKeyring({ generator: sender, children: [recipient] });
    const controller = new AbortController();
    const { result, messageHeader } = await encrypt(multi, new Uint8Array([1, 2, 3]), {
        encryptionContext: { a: 'b' },
        frameLength: 4096,
        suite: AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        onProgress: ({ bytesDone, bytesTotal }: Progress) => void [bytesDone, bytesTotal],
        signal: controller.signal,
    });
    const bytes: Uint8Array = result;
    const header: MessageHeader = messageHeader;
    const suiteId: number = header.suiteId;
    const first: string | undefined = header.encryptedDataKeys[0]?.providerInfo;
    void [suiteId, first];
    const { plaintext } = await decrypt(recipient, bytes, {
        expectedContext: { a: 'b' },
        commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        refuseSigned: false,
    });
    return plaintext;
}

export async function kms(accessKeyId: string, secretAccessKey: string): Promise<Uint8Array> {
    const keyring = await KmsKeyring.create({
        generatorKeyId: 'arn:aws:kms:us-east-1:000000000000:key/1',
        keyIds: ['arn:aws:kms:eu-west-1:000000000000:key/2'],
        endpoint: 'https://kms.us-east-1.amazonaws.com',
        credentials: { accessKeyId, secretAccessKey },
        grantTokens: ['token'],
    });
    const generator: string | undefined = keyring.generatorKeyId;
    const others: readonly string[] = keyring.keyIds;
    void [generator, others];
    const bearer = await KmsKeyring.create({ keyIds: ['arn:aws:kms:us-east-1:000000000000:key/1'],
        endpoint: 'https://keys.example', token: async () => 'id-token' });
    const multi = new MultiKeyring({ generator: keyring, children: [bearer] });
    const { result } = await encrypt(multi, new Uint8Array([1]), { encryptionContext: { tenant: 'acme' } });
    try {
        return (await decrypt(keyring, result)).plaintext;
    } catch (err) {
        if (err instanceof DecryptError && err.code === 'KEYRING') throw new Error(err.serverCode);
        throw err;
    }
}

export async function kmsMisuse(): Promise<void> {
    // @ts-expect-error: an endpoint is required
    await KmsKeyring.create({ generatorKeyId: 'arn:aws:kms:us-east-1:000000000000:key/1', token: 't' });
    // @ts-expect-error: key IDs are a list
    await KmsKeyring.create({ keyIds: 'arn', endpoint: 'https://x', token: 't' });
}

export async function streams(keyring: Keyring, file: Blob, body: ReadableStream<Uint8Array>): Promise<void> {
    const { result } = await encrypt(keyring, file);
    const stream: ReadableStream<Uint8Array> = result;
    const { plaintext } = await decrypt(keyring, body);
    const out: ReadableStream<Uint8Array> = plaintext;
    const es = encryptStream(keyring, { frameLength: 65536 });
    const ds = decryptStream(keyring, { signal: AbortSignal.timeout(1000) });
    const h: MessageHeader = await es.messageHeader;
    const provisional: boolean = ds.provisional;
    void [stream.pipeThrough(ds), out.pipeThrough(es), h, provisional];
}

/** A custom keyring (a key server's, say) type-checks against the interface. */
export function customKeyring(wrappingKey: WrappingKey): Keyring {
    return {
        wrappingKeys: () => [wrappingKey],
        async unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options) {
            void [edk.providerId, edk.providerInfo, edk.ciphertext.length, headerBytes.length, options?.signal];
            throw new DecryptError('denied', 'KEYRING');
        },
    };
}

export async function wrappingKey(spki: Uint8Array): Promise<WrappingKey> {
    const key = await WrappingKey.rsaOaep({ keyNamespace: 'ns', keyName: 'k', publicKey: spki, oaepHash: 'SHA-256' });
    const name: string = key.keyName;
    void name;
    return key;
}

export function describe(err: unknown): string {
    if (err instanceof DecryptError) {
        const code: DecryptErrorCode = err.code;
        switch (code) {
            case 'BAD_FRAME_TAG': return `frame ${err.sequence}`;
            case 'TRUNCATED': return `truncated in the ${err.section}`;
            case 'NO_DECRYPTABLE_KEY': return `${err.failedAttempts} failed`;
            default: return code;
        }
    }
    if (err instanceof EncryptError || err instanceof KeyError) return err.code;
    if (err instanceof CipherdropError) return err.code;
    return String(err);
}

export async function misuse(keyring: Keyring): Promise<void> {
    // @ts-expect-error: strings are not accepted as data
    await encrypt(keyring, 'text');
    // @ts-expect-error: frameLength is a number
    await encrypt(keyring, new Uint8Array(1), { frameLength: '4096' });
    // @ts-expect-error: the commitment policy is one of two names
    await decrypt(keyring, new Uint8Array(1), { commitmentPolicy: 'NONE' });
    // @ts-expect-error: fromPem needs a key namespace and name
    await RawRsaKeyring.fromPem({ publicKey: 'x' });
    // @ts-expect-error: a Uint8Array result is not a stream
    const { result }: { result: ReadableStream } = await encrypt(keyring, new Uint8Array(1));
    void result;
}

// `cipherdrop/lite` has the default entry's types: switching is only the import path.
export const sameTypes: typeof defaultEntry = liteEntry;
export async function liteRoundTrip(publicKey: string): Promise<Uint8Array> {
    const sender = await liteEntry.RawRsaKeyring.fromPem({ keyNamespace: 'ns', keyName: 'k', publicKey });
    const suite = liteEntry.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    const { result } = await liteEntry.encrypt(sender, new Uint8Array([1]), { suite });
    return result;
}
