// Input streams shared by the benchmark page (bench.js) and the Node benchmark (node-bench.mjs).

/** A ReadableStream of `chunks` (the same arrays, not copies), pulled on demand. */
export function chunksStream(chunks) {
    let i = 0;
    return new ReadableStream({
        pull(controller) {
            if (i < chunks.length) controller.enqueue(chunks[i++]);
            else controller.close();
        },
    }, { highWaterMark: 0 });
}
