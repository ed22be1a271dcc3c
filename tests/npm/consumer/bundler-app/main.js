// The bundler app (app.js) on the package's default entry: every message on the full module.
import * as cd from 'cipherdrop';

import { run } from './app.js';

await run(cd);
