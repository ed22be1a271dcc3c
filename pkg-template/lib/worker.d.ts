// `cipherdrop/worker` is the script of the package's Web Workers (see the `workers` option):
// it exports nothing; bundlers and CSP allowlists need its URL, not its bindings.
export {};
