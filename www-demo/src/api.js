// The archive store's HTTP API (server/openapi.json, `/v0/archive`), as one principal.
// Every failure is an ApiError (the server refused: status and code) or a NetworkError (no
// answer, or the connection broke while a body streamed).

/** The server answered with an error. */
export class ApiError extends Error {
    constructor(status, code, message) {
        super(`${code}: ${message}`);
        this.name = 'ApiError';
        this.status = status;
        this.code = code;
    }
}

/** The server could not be reached, or a transfer broke off. */
export class NetworkError extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = 'NetworkError';
    }
}

function isAbort(err, signal) {
    return signal?.aborted || err?.name === 'AbortError';
}

export class ArchiveClient {
    #base;
    #token;

    /** `token`: a function that resolves to the bearer token for the next request. */
    constructor(base, token) {
        this.#base = base.replace(/\/+$/, '');
        this.#token = token;
    }

    async #call(method, path, { body, signal, json = true } = {}) {
        const token = await this.#token();
        let response;
        try {
            response = await fetch(`${this.#base}${path}`, {
                method,
                headers: { authorization: `Bearer ${token}` },
                body,
                signal,
            });
        } catch (err) {
            if (isAbort(err, signal)) throw signal?.reason ?? err;
            throw new NetworkError(`the archive could not be reached (${err.message})`, {
                cause: err,
            });
        }
        if (!response.ok) {
            let code = `HTTP ${response.status}`;
            let message = response.statusText;
            try {
                const doc = await response.json();
                code = doc.error ?? code;
                message = doc.message ?? message;
            } catch {
                // not JSON
            }
            throw new ApiError(response.status, code, message);
        }
        return json && response.status !== 204 ? response.json() : response;
    }

    /** `[{ id, size, uploaded, owner, hasMeta }]` */
    async list() {
        return (await this.#call('GET', '/v0/archive/objects')).objects;
    }

    /** Starts an upload session: `{ maxPart }`. */
    startUpload(id, signal) {
        return this.#call('POST', `/v0/archive/objects/${id}/upload`, { signal });
    }

    putPart(id, part, bytes, signal) {
        return this.#call('PUT', `/v0/archive/objects/${id}/upload/${part}`, {
            body: bytes,
            signal,
        });
    }

    completeUpload(id, signal) {
        return this.#call('POST', `/v0/archive/objects/${id}/upload/complete`, { signal });
    }

    abortUpload(id) {
        return this.#call('DELETE', `/v0/archive/objects/${id}/upload`, { json: false });
    }

    putMeta(id, bytes, signal) {
        return this.#call('PUT', `/v0/archive/objects/${id}/meta`, { body: bytes, signal });
    }

    async getMeta(id, signal) {
        const response = await this.#call('GET', `/v0/archive/objects/${id}/meta`, {
            signal,
            json: false,
        });
        try {
            return new Uint8Array(await response.arrayBuffer());
        } catch (err) {
            if (isAbort(err, signal)) throw signal.reason ?? err;
            throw new NetworkError(`the transfer broke off (${err.message})`, { cause: err });
        }
    }

    /** The message as `{ body: ReadableStream, size }`; a broken transfer errors with NetworkError. */
    async getObject(id, signal) {
        const response = await this.#call('GET', `/v0/archive/objects/${id}`, {
            signal,
            json: false,
        });
        const reader = response.body.getReader();
        const body = new ReadableStream(
            {
                async pull(controller) {
                    let chunk;
                    try {
                        chunk = await reader.read();
                    } catch (err) {
                        if (isAbort(err, signal)) throw signal.reason ?? err;
                        throw new NetworkError(`the download broke off (${err.message})`, {
                            cause: err,
                        });
                    }
                    if (chunk.done) controller.close();
                    else controller.enqueue(chunk.value);
                },
                cancel(reason) {
                    return reader.cancel(reason);
                },
            },
            { highWaterMark: 0 },
        );
        return { body, size: Number(response.headers.get('content-length')) || undefined };
    }
}
