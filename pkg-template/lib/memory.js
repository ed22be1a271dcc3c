// The wasm memory layout the JS glue shares with the core's bindings: views of a module's
// memory, the frame jobs packed there (src/wasm/convert.rs `pack_job`), and copies in and
// out of a session's frame buffer.

/** Byte views of the modules' whole memories, made afresh once a memory has grown. */
const memoryBytes = new WeakMap();
function memoryView(memory) {
    const { buffer } = memory;
    let view = memoryBytes.get(memory);
    if (view?.buffer !== buffer) {
        view = new Uint8Array(buffer);
        memoryBytes.set(memory, view);
    }
    return view;
}

/**
 * Reads the frame job the wasm bindings packed at `ptr` (src/wasm/convert.rs `pack_job`):
 * flags, sequence number, plaintext length, AAD length, IV, AAD. `iv` and `aad` are views of
 * the module's memory: the callers start the frame's engine (which copies them) before any
 * other call into the module or any await, and copy them for a job that must wait (a frame
 * body spanning input chunks). Were the memory to grow first, the views would be empty, the
 * engine would fail on the frame and the core would seal or open it itself.
 */
export function jobAt(memory, ptr) {
    const mem = memoryView(memory);
    const u32 = (at) => ((mem[at] << 24) | (mem[at + 1] << 16) | (mem[at + 2] << 8) | mem[at + 3]) >>> 0;
    const plaintextLength = u32(ptr + 5);
    const aadLength = (mem[ptr + 9] << 8) | mem[ptr + 10];
    return {
        isFinal: (mem[ptr] & 1) !== 0,
        hold: (mem[ptr] & 2) !== 0,
        sequence: u32(ptr + 1),
        plaintextLength,
        sealedLength: plaintextLength + 16,
        iv: mem.subarray(ptr + 11, ptr + 23),
        aad: mem.subarray(ptr + 23, ptr + 23 + aadLength),
    };
}

/** Copies `bytes` into the wasm frame buffer of `owner` (an Encryptor or Decryptor). */
export function intoFrameBuffer(memory, owner, bytes, size) {
    const ptr = owner.frameBuffer(size);
    memoryView(memory).set(bytes, ptr);
    return ptr;
}

/** A copy of `len` bytes of the wasm memory at `ptr` (views are made after every call). */
export function fromMemory(memory, ptr, len) {
    return memoryView(memory).slice(ptr, ptr + len);
}
