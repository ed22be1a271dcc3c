// @aws-crypto/client-browser uses Node's Buffer (suite 0x0578 fails with "Buffer is not
// defined" without it): the npm `buffer` polyfill, installed before the SDK's modules run.
import { Buffer } from 'buffer';

globalThis.Buffer ??= Buffer;
