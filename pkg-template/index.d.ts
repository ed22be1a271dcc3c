// Type declarations of the `cipherdrop` package, written by hand (the wasm-bindgen output is
// internal): both entries, `cipherdrop` and `cipherdrop/lite`, export the same. Checked by
// tests/npm/ with `tsc --strict` against a consumer file, with the DOM lib and without it (a
// Node project: es2022 and @types/node), so only names both declare.

/** `WebAssembly.Module` where the project's libs declare it (DOM, some @types/node); else never. */
type WasmModule = typeof globalThis extends { WebAssembly: { Module: abstract new (...args: never) => infer M } }
    ? M : never;

/** An encryption context: non-secret string pairs bound to the message. */
export type EncryptionContext = Record<string, string>;

/** Suite IDs `encrypt` writes (the `suite` option). */
export declare const AlgorithmSuite: {
    /** 0x0578, the default: AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 signature. */
    readonly AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384: 0x0578;
    /** 0x0478: AES-256-GCM, HKDF-SHA512, key commitment, no signature. */
    readonly AES_256_GCM_HKDF_SHA512_COMMIT_KEY: 0x0478;
};
export type AlgorithmSuiteId = (typeof AlgorithmSuite)[keyof typeof AlgorithmSuite];

/** Values of {@link DecryptOptions.commitmentPolicy}. */
export declare const CommitmentPolicy: {
    /** The default: read only key-committing (message format 2.0) messages. */
    readonly REQUIRE_ENCRYPT_REQUIRE_DECRYPT: 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT';
    /** Also read legacy non-committing (format 1.0) messages of the older SDKs. */
    readonly REQUIRE_ENCRYPT_ALLOW_DECRYPT: 'REQUIRE_ENCRYPT_ALLOW_DECRYPT';
};
export type CommitmentPolicyName = (typeof CommitmentPolicy)[keyof typeof CommitmentPolicy];

/** An encrypted data key as a keyring sees it in {@link Keyring.unwrap}. */
export interface EncryptedDataKey {
    /** Key provider ID; for a raw RSA keyring, its key namespace. */
    readonly providerId: string;
    /** Key provider information (UTF-8); for a raw RSA keyring, its key name. */
    readonly providerInfo: string;
    /** The wrapped data key. */
    readonly ciphertext: Uint8Array;
}

/** The header fields of a message, as written by `encrypt` or verified by `decrypt`. */
export interface MessageHeader {
    /** The encryption context, including `aws-crypto-public-key` for signed suites. */
    readonly encryptionContext: EncryptionContext;
    /** The algorithm suite ID, such as 0x0578. */
    readonly suiteId: number;
    /** Plaintext bytes per frame. */
    readonly frameLength: number;
    /** Who can unwrap the data key, in header order. */
    readonly encryptedDataKeys: ReadonlyArray<{ readonly providerId: string; readonly providerInfo: string }>;
}

/** What {@link EncryptOptions.onProgress} and {@link DecryptOptions.onProgress} receive. */
export interface Progress {
    /** Input bytes processed so far. */
    readonly bytesDone: number;
    /** Input size, when known (Uint8Array and Blob input). */
    readonly bytesTotal?: number;
}

/** Options of {@link encrypt} and {@link encryptStream}. */
export interface EncryptOptions {
    /** Pairs bound to the message (stored in the header, not secret). Keys must not start with `aws-crypto-`. */
    encryptionContext?: EncryptionContext;
    /** Plaintext bytes per frame, 1 to 2^31-1. Default 65536. */
    frameLength?: number;
    /** {@link AlgorithmSuite} ID. Default 0x0578 (signed). */
    suite?: AlgorithmSuiteId | number;
    /** Called after each chunk of input is encrypted. */
    onProgress?: (progress: Progress) => void;
    /** Stops the work: the promise rejects (or the stream errors) with `signal.reason`. */
    signal?: AbortSignal;
    /**
     * Seal frames with native AES-GCM: WebCrypto's (`crypto.subtle`, several frames in
     * flight) in browsers, node:crypto's in Node. Default true; false uses the AES-GCM inside
     * the WebAssembly module (the fallback, also used when the native one is missing or
     * fails). The bytes are the same either way.
     */
    webCrypto?: boolean;
    /**
     * Use workers (in browsers Web Workers of the package's `cipherdrop/worker` entry; in
     * Node one worker thread). Signed suites (0x0578) run the message's SHA-384 on a worker
     * while the page (or Node's main thread) seals or opens frames, for inputs of 1 MiB or
     * more or of unknown size (streams); in browsers only,
     * frames are sealed in parallel in a pool of workers (WebCrypto in each) for inputs of
     * 8 MiB or more (streams: once 8 MiB were read) on machines with 4 or more logical cores
     * (on 2 cores the page's own thread was as fast); and a Blob or File of 8 MiB or more is
     * read on a worker (reading a Blob costs the reading thread about as much as the AES),
     * unless the message is signed and the machine has fewer than 4 cores (the hash has the
     * second). Default: that; false: no worker at all; true: all of them, whatever the size.
     * Same bytes either way; a few MiB in flight at most. In Node only the hash uses a
     * worker (there is no frame pool). Where the worker script cannot run (it 404s, a Content
     * Security Policy forbids it), everything runs on the page; a worker that fails in the
     * middle of a message fails it with code `WORKER_FAILED` (or, for the pool, the frames
     * go on in the page's WebAssembly).
     */
    workers?: boolean;
}

/** Options of {@link decrypt} and {@link decryptStream}. */
export interface DecryptOptions {
    /**
     * Pairs the message must carry: a pair stored in the header must have this value; a pair
     * not stored must have been authenticated by the header (the "required encryption
     * context"). Otherwise the decryption fails with code `CONTEXT_MISMATCH`.
     */
    expectedContext?: EncryptionContext;
    /** Default `REQUIRE_ENCRYPT_REQUIRE_DECRYPT`: only key-committing messages. */
    commitmentPolicy?: CommitmentPolicyName;
    /**
     * Refuse signed messages (code `SIGNED_MESSAGE_REFUSED`, right after the header), for
     * streaming callers that must never see plaintext before a signature is verified.
     */
    refuseSigned?: boolean;
    /** Most encrypted data keys a message may carry. Default 10. */
    maxEncryptedDataKeys?: number;
    /** Called after each chunk of input is decrypted. */
    onProgress?: (progress: Progress) => void;
    /** Stops the work: the promise rejects (or the stream errors) with `signal.reason`. */
    signal?: AbortSignal;
    /** Open frames with WebCrypto's AES-GCM where available (default true); see {@link EncryptOptions.webCrypto}. */
    webCrypto?: boolean;
    /** Web Workers for the hash, frames and Blob reading; see {@link EncryptOptions.workers}. */
    workers?: boolean;
}

/** Options a keyring's {@link Keyring.unwrap} receives. */
export interface UnwrapOptions {
    /** The operation's signal, to pass on to `fetch` and the like. */
    readonly signal?: AbortSignal;
    /** The length of the data key the message's suite uses, in bytes. */
    readonly dataKeyLength?: number;
}

/**
 * What `encrypt` and `decrypt` need from a keyring. Wrapping runs through WebCrypto
 * RSA-OAEP with the public {@link WrappingKey}s the keyring lists; unwrapping is the keyring's
 * own (WebCrypto for {@link RawRsaKeyring}; a request to a key server for a remote keyring).
 */
export interface Keyring {
    /** The public keys the data key is wrapped with, in EDK order. */
    wrappingKeys(): Promise<readonly WrappingKey[]> | readonly WrappingKey[];
    /**
     * Unwraps one encrypted data key of a message whose serialized header (not yet
     * authenticated: the decryptor checks it with the returned key) is `headerBytes`.
     * Resolves to the data key, or `null` if the EDK is not this keyring's. Throw a
     * {@link DecryptError} with code `KEYRING` to refuse (reported if no other EDK unwraps);
     * any other error counts as a failed attempt (the message of one with code
     * `UNWRAP_FAILED` is added to `NO_DECRYPTABLE_KEY`'s). The caller zero-fills the returned
     * array.
     */
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/**
 * A wrapping key: public RSA-OAEP (WebCrypto `CryptoKey` inside), or a symmetric AWS KMS key
 * of a {@link KmsKeyring}, which KMS wraps with.
 */
export declare class WrappingKey {
    private constructor();
    /**
     * An RSA-OAEP wrapping key (raw RSA keyring format). `publicKey`: PEM (`PUBLIC KEY` or
     * `RSA PUBLIC KEY`) or SPKI DER bytes.
     */
    static rsaOaep(options: {
        keyNamespace: string;
        keyName: string;
        publicKey: string | Uint8Array;
        oaepHash?: OaepHash;
    }): Promise<WrappingKey>;
    readonly keyNamespace: string;
    readonly keyName: string;
    /** The OAEP hash in WebCrypto spelling ('SHA-256', ...); `undefined` for a {@link KmsKeyring} key. */
    readonly oaepHash: string | undefined;
}

/** An RSA JSON Web Key (RFC 7517, RFC 7518 section 6.3): public (`n`, `e`) or private. */
export interface RsaJwk {
    kty: 'RSA';
    n: string;
    e: string;
    d?: string;
    p?: string;
    q?: string;
    dp?: string;
    dq?: string;
    qi?: string;
    alg?: string;
    [member: string]: unknown;
}

/** WebCrypto's `CryptoKey` where the project's libs declare it (DOM, @types/node); else never. */
type WebCryptoKey = typeof globalThis extends { CryptoKey: { prototype: infer K } } ? K : never;

/** RSA-OAEP hash (also used for MGF1). Lowercase spellings such as `sha256` are accepted. */
export type OaepHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' | (string & {});

/** Options of {@link RawRsaKeyring.fromPem}. */
export interface RawRsaKeyringOptions {
    /** EDK provider ID. `aws-kms` is reserved. */
    keyNamespace: string;
    /** EDK provider information. */
    keyName: string;
    /** PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1): wraps. */
    publicKey?: string;
    /**
     * PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1, converted to PKCS#8 here):
     * unwraps through WebCrypto (non-extractable `CryptoKey`); without `publicKey` its
     * public half wraps. Encrypted PEM is refused.
     */
    privateKey?: string;
    /** Default `'SHA-256'`. PKCS#1 v1.5 padding is refused (code `PKCS1V15_REFUSED`). */
    oaepHash?: OaepHash;
}

/** The raw RSA keyring of the AWS Encryption SDKs (RSA-OAEP, MGF1 with the same hash). */
export declare class RawRsaKeyring implements Keyring {
    private constructor();
    /** Builds a keyring; rejects with a {@link KeyError} or a `TypeError`. */
    static fromPem(options: RawRsaKeyringOptions): Promise<RawRsaKeyring>;
    /**
     * Builds a keyring of JSON Web Keys (`kty: 'RSA'`): `publicKey` wraps, `privateKey`
     * unwraps (and, alone, wraps with its public half). `oaepHash` defaults to the hash of
     * the JWK's `alg` (`RSA-OAEP`: SHA-1, `RSA-OAEP-256`: SHA-256, ...), else SHA-256.
     */
    static fromJwk(options: {
        keyNamespace: string;
        keyName: string;
        publicKey?: RsaJwk;
        privateKey?: RsaJwk;
        oaepHash?: OaepHash;
    }): Promise<RawRsaKeyring>;
    /**
     * Builds a keyring of WebCrypto RSA-OAEP keys (their hash is the OAEP hash): `publicKey`
     * wraps, `privateKey` unwraps. With only a non-extractable `privateKey` it cannot
     * encrypt ({@link RawRsaKeyring.canWrap} is false).
     */
    static fromCryptoKey(options: {
        keyNamespace: string;
        keyName: string;
        publicKey?: WebCryptoKey;
        privateKey?: WebCryptoKey;
    }): Promise<RawRsaKeyring>;
    readonly keyNamespace: string;
    readonly keyName: string;
    /** WebCrypto spelling: `'SHA-256'`, ... */
    readonly oaepHash: string;
    /** Whether it holds a private key. */
    readonly canUnwrap: boolean;
    /** Whether it can encrypt (false for a non-extractable private `CryptoKey` alone). */
    readonly canWrap: boolean;
    wrappingKeys(): Promise<readonly WrappingKey[]>;
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/**
 * Several keyrings as one: `encrypt` wraps with the generator's keys, then each child's;
 * `decrypt` asks the generator, then each child, for each EDK in turn.
 */
export declare class MultiKeyring implements Keyring {
    /** Without a generator the keyring can only decrypt. */
    constructor(options: { generator?: Keyring; children?: readonly Keyring[] });
    readonly generator: Keyring | undefined;
    readonly children: readonly Keyring[];
    wrappingKeys(): Promise<readonly WrappingKey[]>;
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/** Options of {@link KeyServerKeyring.create}. */
export interface KeyServerKeyringOptions {
    /** Base URL of the key server, such as `https://keys.example` or `location.origin`. */
    url: string;
    /**
     * Bearer token of the principal the server checks the key policy against: a static
     * token, or a provider called before each request that resolves to one (for example a
     * fresh OpenID Connect ID token from the app's sign-in library).
     */
    token: string | (() => string | Promise<string>);
    /** Key ID or `alias/NAME`: whose public key new messages are wrapped with. */
    keyId: string;
    /** Default: the global `fetch`. */
    fetch?: typeof fetch;
    /** Stops the public-key request. */
    signal?: AbortSignal;
}

/**
 * A keyring for a key of a cipherdrop key server (`cipherdrop serve`): wraps locally with the
 * key's public half (fetched once by {@link KeyServerKeyring.create}; EDK provider ID
 * `cipherdrop`, provider information `KEYID/vN`, RSA-OAEP-SHA256), and unwraps by sending the
 * message header and the EDK's key name to the server's `POST /v0/unwrap`. Every EDK with
 * provider ID `cipherdrop` is sent, whichever key or version it names. A refusal throws a
 * {@link DecryptError} with code `KEYRING` and `serverCode` set to the server's code
 * (`AccessDenied`, `KeyDisabled`, `KeyPendingDeletion`, `InvalidCiphertext`, ...) or
 * `NetworkError` if the server could not be reached.
 */
export declare class KeyServerKeyring implements Keyring {
    private constructor();
    /** Fetches the public key; rejects with a {@link KeyError} (`INVALID_KEY`, `serverCode`) if refused. */
    static create(options: KeyServerKeyringOptions): Promise<KeyServerKeyring>;
    /** The key ID or alias given to {@link KeyServerKeyring.create}. */
    readonly keyId: string;
    /** The EDK key name of new messages: `KEYID/vN`. */
    readonly keyName: string;
    wrappingKeys(): Promise<readonly WrappingKey[]>;
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/** AWS access key credentials for SigV4 signing (service `kms`). */
export interface AwsCredentials {
    accessKeyId: string;
    secretAccessKey: string;
    /** Of temporary credentials (sent as `X-Amz-Security-Token`). */
    sessionToken?: string;
}

/** Options of {@link KmsKeyring.create}. Unknown names reject with `INVALID_OPTION`. */
export interface KmsKeyringOptions {
    /**
     * The key ARN (`arn:aws:kms:REGION:ACCOUNT:key/KEY_ID`; not an alias, not a bare key ID)
     * that makes each message's data key with KMS `GenerateDataKey`.
     */
    generatorKeyId?: string;
    /**
     * More key ARNs: each encrypts the data key with KMS `Encrypt` (one EDK each). Without
     * `generatorKeyId`, the first of them generates. On decrypt every key is tried.
     */
    keyIds?: readonly string[];
    /** Grant tokens sent with every GenerateDataKey, Encrypt and Decrypt request. */
    grantTokens?: readonly string[];
    /** The KMS endpoint, such as `https://kms.us-east-1.amazonaws.com` or a `cipherdrop serve` URL. */
    endpoint: string;
    /** SigV4 region. Default: the region each ARN names. */
    region?: string;
    /** Sign requests with SigV4 (WebCrypto HMAC-SHA256). Give this or `token`. */
    credentials?: AwsCredentials;
    /**
     * Send `Authorization: Bearer TOKEN` instead of signing (a `cipherdrop serve` endpoint):
     * a token, or a provider called before each request.
     */
    token?: string | (() => string | Promise<string>);
    /** Default: the global `fetch`. */
    fetch?: typeof fetch;
    /** Unused by `create` (it sends nothing); accepted for symmetry with {@link KmsRsaKeyringOptions}. */
    signal?: AbortSignal;
}

/**
 * The AWS KMS keyring for symmetric KMS keys (the official SDKs' `KmsKeyringNode` /
 * `create_aws_kms_keyring`, `framework/aws-kms/aws-kms-keyring.md`): EDK provider ID
 * `aws-kms`, provider information the key ARN KMS answered with, ciphertext KMS's blob. The
 * message's first key makes the data key with `GenerateDataKey` (NumberOfBytes the suite's
 * key length), the others encrypt it with `Encrypt`; decrypt calls `Decrypt` with the
 * configured ARN, the message's encryption context and the grant tokens, and checks that the
 * answer names that ARN and holds a key of the suite's length. Signed and unsigned suites
 * both work. Refusals throw an {@link EncryptError} or a {@link DecryptError} with code
 * `KEYRING` and `serverCode` (`DisabledException`, `AccessDeniedException`,
 * `InvalidCiphertextException` for a changed encryption context, `NetworkError`, ...); a
 * message with no EDK of these ARNs gives `NO_DECRYPTABLE_KEY`.
 */
export declare class KmsKeyring implements Keyring {
    private constructor();
    /** Checks the options; sends nothing. */
    static create(options: KmsKeyringOptions): Promise<KmsKeyring>;
    /** The generator's key ARN, `undefined` if only `keyIds` were given. */
    readonly generatorKeyId: string | undefined;
    readonly keyIds: readonly string[];
    wrappingKeys(): Promise<readonly WrappingKey[]>;
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/** Options of {@link KmsRsaKeyring.create}. Unknown names reject with `INVALID_OPTION`. */
export interface KmsRsaKeyringOptions {
    /** The KMS key's ARN (`arn:aws:kms:REGION:ACCOUNT:key/KEY_ID`; not an alias, not a bare key ID). */
    keyArn: string;
    /** The KMS encryption algorithm, which fixes the OAEP (and MGF1) hash. */
    encryptionAlgorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1';
    /** The key's public key (SPKI DER, or a `PUBLIC KEY` PEM). Absent: fetched with KMS GetPublicKey. */
    publicKey?: Uint8Array | string;
    /** The KMS endpoint, such as `https://kms.us-east-1.amazonaws.com` or a `cipherdrop serve` URL. */
    endpoint: string;
    /** SigV4 region. Default: the region the ARN names. */
    region?: string;
    /** Sign requests with SigV4 (WebCrypto HMAC-SHA256). Give this or `token`. */
    credentials?: AwsCredentials;
    /**
     * Send `Authorization: Bearer TOKEN` instead of signing (a `cipherdrop serve` endpoint
     * that accepts bearer tokens and OpenID Connect tokens): a token, or a provider called
     * before each request.
     */
    token?: string | (() => string | Promise<string>);
    /** Default: the global `fetch`. */
    fetch?: typeof fetch;
    /** Stops the GetPublicKey request. */
    signal?: AbortSignal;
}

/**
 * The Material Providers Library's AWS KMS RSA keyring (`AwsKmsRsaKeyring`): EDK provider ID
 * `aws-kms-rsa`, provider information the key ARN, ciphertext the RSA-OAEP encryption
 * (WebCrypto) of the SHA-384 digest of the encryption context followed by the data key.
 * Unwraps with KMS `Decrypt` (KeyId the ARN, the configured EncryptionAlgorithm), checks that
 * the answer names the ARN and that its digest matches the message's context. Like the MPL
 * keyring it refuses signed suites: encrypt with `suite: AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY`
 * (0x0478), or encryption fails with `KEYRING`. Refusals throw a {@link DecryptError} with code
 * `KEYRING` and `serverCode` (`DisabledException`, `AccessDeniedException`, `NetworkError`,
 * ...); a wrong OAEP hash or an altered context counts as a failed attempt (`NO_DECRYPTABLE_KEY`).
 */
export declare class KmsRsaKeyring implements Keyring {
    private constructor();
    /** Checks the options and gets the public key (GetPublicKey unless `publicKey` is given). */
    static create(options: KmsRsaKeyringOptions): Promise<KmsRsaKeyring>;
    readonly keyArn: string;
    readonly encryptionAlgorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1';
    wrappingKeys(): Promise<readonly WrappingKey[]>;
    unwrap(edk: EncryptedDataKey, headerBytes: Uint8Array, options?: UnwrapOptions): Promise<Uint8Array | null>;
}

/** Streamed input: a ReadableStream, a Node `Readable` or any async iterable of byte chunks. */
export type StreamData = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Input of {@link encrypt} and {@link decrypt}. */
export type Data = Uint8Array | ArrayBuffer | ArrayBufferView | Blob | StreamData;

/**
 * `result` is a Uint8Array for byte input, a ReadableStream for Blob and stream input. The
 * Uint8Array may view a slightly longer ArrayBuffer (read it through the view, not `.buffer`).
 */
export type EncryptResult<D> = {
    readonly result: D extends Blob | StreamData ? ReadableStream<Uint8Array> : Uint8Array;
    readonly messageHeader: MessageHeader;
};

/**
 * `plaintext` is a Uint8Array for byte input, a ReadableStream for Blob and stream input. The
 * Uint8Array may view a slightly longer ArrayBuffer (zero-filled beyond the plaintext).
 */
export type DecryptResult<D> = {
    readonly plaintext: D extends Blob | StreamData ? ReadableStream<Uint8Array> : Uint8Array;
    readonly messageHeader: MessageHeader;
};

/**
 * Encrypts `data` into one message for `keyring`. For Blob and streamed input the
 * promise resolves once the data key is wrapped, and `result` streams the message as the
 * input is read (constant memory).
 */
export declare function encrypt<D extends Data>(keyring: Keyring, data: D, options?: EncryptOptions): Promise<EncryptResult<D>>;

/**
 * Decrypts one message. For Uint8Array input nothing is released unless every check passed
 * (tags, commitment, signature, no trailing bytes). For Blob and ReadableStream input the
 * promise resolves once the header is verified, and `plaintext` streams the rest with the
 * guarantees of {@link decryptStream}: it is complete and verified only when it closes, and
 * errors instead of closing if any check fails.
 */
export declare function decrypt<D extends Data>(keyring: Keyring, data: D, options?: DecryptOptions): Promise<DecryptResult<D>>;

/** A TransformStream that encrypts the chunks written to it into one message. */
export interface EncryptStream extends TransformStream<Uint8Array, Uint8Array> {
    /** Resolves once the data key is wrapped, before the first output. */
    readonly messageHeader: Promise<MessageHeader>;
}

/**
 * A TransformStream that decrypts one message written to it.
 *
 * Each output chunk is authenticated (its frame's GCM tag verified), but the message as a
 * whole is verified only when the readable side closes: a truncated message, a bad
 * signature or trailing bytes error the stream instead. Treat output as provisional until
 * the stream closes, and discard it if the stream errors. For signed suites `provisional`
 * is `true` while released plaintext awaits the signature; the final frame is held back
 * until the signature verifies. Use `refuseSigned` to refuse signed messages outright.
 */
export interface DecryptStream extends TransformStream<Uint8Array, Uint8Array> {
    /** Resolves once a data key verified the header, before the first output. */
    readonly messageHeader: Promise<MessageHeader>;
    /** True while plaintext already released awaits the message signature. */
    readonly provisional: boolean;
}

export declare function encryptStream(keyring: Keyring, options?: EncryptOptions): EncryptStream;
export declare function decryptStream(keyring: Keyring, options?: DecryptOptions): DecryptStream;

/** Codes of {@link EncryptError}. */
export type EncryptErrorCode =
    | 'RESERVED_CONTEXT_KEY' | 'CONTEXT_TOO_LARGE' | 'INVALID_FRAME_LENGTH' | 'UNSUPPORTED_SUITE'
    | 'ENCRYPTED_DATA_KEY_COUNT' | 'ENCRYPTED_DATA_KEY_TOO_LARGE' | 'DATA_KEY_LENGTH'
    | 'INVALID_SIGNING_KEY' | 'WRAP_FAILED' | 'KEYRING' | 'TOO_MANY_FRAMES' | 'RANDOM'
    | 'SEAL_FAILED' | 'INVALID_STATE' | 'WORKER_FAILED' | 'INVALID_OPTION' | 'CRYPTO_FAILED';

/** Codes of {@link DecryptError}. */
export type DecryptErrorCode =
    | 'TRUNCATED' | 'TRAILING_BYTES' | 'MALFORMED' | 'UNSUPPORTED_VERSION' | 'UNSUPPORTED_SUITE'
    | 'UNSUPPORTED_CONTENT_TYPE' | 'COMMITMENT_POLICY' | 'SIGNED_MESSAGE_REFUSED'
    | 'TOO_MANY_ENCRYPTED_DATA_KEYS' | 'HEADER_TOO_LARGE' | 'FRAME_TOO_LARGE' | 'CONTEXT_TOO_LARGE'
    | 'CONTEXT_MISMATCH' | 'PUBLIC_KEY_ENTRY' | 'NO_DECRYPTABLE_KEY' | 'UNWRAP_FAILED' | 'KEYRING'
    | 'COMMITMENT_MISMATCH' | 'BAD_HEADER_TAG' | 'BAD_FRAME_TAG' | 'FRAME_SEQUENCE' | 'BAD_SIGNATURE'
    | 'INVALID_STATE' | 'WORKER_FAILED' | 'INVALID_OPTION' | 'CRYPTO_FAILED';

/** Codes of {@link KeyError}. */
export type KeyErrorCode =
    | 'PKCS1V15_REFUSED' | 'UNKNOWN_PADDING' | 'INVALID_PEM' | 'INVALID_KEY' | 'RESERVED_NAMESPACE'
    | 'KEY_MISMATCH' | 'INVALID_KEY_ARN' | 'UNSUPPORTED_ENCRYPTION_ALGORITHM' | 'INVALID_PUBLIC_KEY'
    | 'INVALID_OPTION';

/** Codes of {@link LoadError}. */
export type LoadErrorCode = 'WASM_LOAD_FAILED';

/** Base class of the package's errors: `code` is stable; `message` is for people. */
export declare class CipherdropError extends Error {
    /**
     * `details` become properties of the error (`sequence`, `section`, ...); custom keyrings
     * throw `new DecryptError(message, 'KEYRING')` to refuse.
     */
    constructor(message: string, code: string, details?: Record<string, unknown>, options?: ErrorOptions);
    readonly code: EncryptErrorCode | DecryptErrorCode | KeyErrorCode | LoadErrorCode;
}

/** Writing a message failed. */
export declare class EncryptError extends CipherdropError {
    constructor(message: string, code: EncryptErrorCode, details?: Record<string, unknown>, options?: ErrorOptions);
    readonly code: EncryptErrorCode;
    /** `RESERVED_CONTEXT_KEY`: the offending key. */
    readonly key?: string;
    /** `UNSUPPORTED_SUITE`. */
    readonly suiteId?: number;
    /** `INVALID_FRAME_LENGTH`. */
    readonly frameLength?: number;
    /** `ENCRYPTED_DATA_KEY_COUNT`. */
    readonly count?: number;
    /** `INVALID_OPTION`: the option's name. */
    readonly option?: string;
}

/** Reading a message failed. No plaintext of a failed one-shot `decrypt` is released. */
export declare class DecryptError extends CipherdropError {
    constructor(message: string, code: DecryptErrorCode, details?: Record<string, unknown>, options?: ErrorOptions);
    readonly code: DecryptErrorCode;
    /** `TRUNCATED`, `MALFORMED`: where. */
    readonly section?: 'header' | 'body' | 'footer';
    /** `BAD_FRAME_TAG`: the frame's sequence number. */
    readonly sequence?: number;
    /** `FRAME_SEQUENCE`: the sequence number expected. */
    readonly expected?: number;
    /** `NO_DECRYPTABLE_KEY`: keyring attempts that failed cryptographically. */
    readonly failedAttempts?: number;
    /** `CONTEXT_MISMATCH`: the key whose value differs or is missing. */
    readonly key?: string;
    /** `UNSUPPORTED_SUITE`, `COMMITMENT_POLICY`. */
    readonly suiteId?: number;
    /** `UNSUPPORTED_VERSION`. */
    readonly version?: number;
    /** `UNSUPPORTED_CONTENT_TYPE`. */
    readonly contentType?: number;
    /** `TOO_MANY_ENCRYPTED_DATA_KEYS`. */
    readonly count?: number;
    /** `TOO_MANY_ENCRYPTED_DATA_KEYS`, `HEADER_TOO_LARGE`, `FRAME_TOO_LARGE`, `CONTEXT_TOO_LARGE`. */
    readonly max?: number;
    /** `FRAME_TOO_LARGE`. */
    readonly length?: number;
    /**
     * `KEYRING` from a {@link KeyServerKeyring}: the server's error code, or `NetworkError`;
     * from a {@link KmsKeyring} or a {@link KmsRsaKeyring}: the AWS exception name, `NetworkError` or `InvalidResponse`.
     */
    readonly serverCode?: string;
    /** `KEYRING` from a {@link KeyServerKeyring}: the HTTP status of the refusal. */
    readonly status?: number;
    /** `INVALID_OPTION`: the option's name. */
    readonly option?: string;
}

/** A key could not be used. */
export declare class KeyError extends CipherdropError {
    constructor(message: string, code: KeyErrorCode, details?: Record<string, unknown>, options?: ErrorOptions);
    readonly code: KeyErrorCode;
    /** From {@link KeyServerKeyring.create} or {@link KmsRsaKeyring.create}: the server's error code. */
    readonly serverCode?: string;
    /** `INVALID_OPTION` from {@link KmsKeyring.create} or {@link KmsRsaKeyring.create}: the option's name. */
    readonly option?: string;
    /** From {@link KeyServerKeyring.create}: the HTTP status of the refusal. */
    readonly status?: number;
}

/**
 * The WebAssembly module could not be fetched or compiled (by {@link init}, or by the first
 * call that needs it): a bundler that did not ship the `.wasm`, a server that does not serve
 * it, a network error. `cause` is the underlying error.
 */
export declare class LoadError extends CipherdropError {
    constructor(message: string, code: LoadErrorCode, details?: Record<string, unknown>, options?: ErrorOptions);
    readonly code: LoadErrorCode;
    /** The URL it was loaded from (`null` for bytes, a Response, or a URL that could not be resolved). */
    readonly url: string | null;
    /** The HTTP status, if the server answered with an error. */
    readonly status?: number;
}

/**
 * Loads the full WebAssembly module (`cipherdrop_bg.wasm`, which reads and writes every
 * suite); every message then runs on it. Optional: every function loads the module it needs
 * on first use, from next to the package's JS (browsers: `fetch`; Node: the file). With
 * `cipherdrop` that is always the full module; with `cipherdrop/lite`, unsigned messages run
 * on the smaller lite module (`cipherdrop_lite_bg.wasm`) until the full one is loaded. Pass a
 * URL, Response, BufferSource or `WebAssembly.Module` to load the full module from elsewhere.
 * Rejects with a {@link LoadError} (`WASM_LOAD_FAILED`) if that fails; a later call tries
 * again.
 */
export declare function init(source?: URL | string | Response | ArrayBuffer | ArrayBufferView | WasmModule): Promise<void>;

/** The core's version (such as `'0.1.0'`); needs no {@link init}. */
export declare function version(): string;
