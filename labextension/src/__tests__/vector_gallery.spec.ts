import { describe, expect, it } from 'vitest';

import { imageType } from '../vector_gallery';

describe('imageType', () => {
  it('tells the WebP or JPEG cards of an exported page from the kernel PNGs by their signature', () => {
    const riff = (kind: string) => Uint8Array.from([...'RIFF', 0x24, 0, 0, 0, ...kind].map(c => (typeof c === 'string' ? c.charCodeAt(0) : c)));
    expect(imageType(riff('WEBP'))).toBe('image/webp');
    expect(imageType(riff('WAVE'))).toBe('image/png'); // a RIFF file that is not WebP
    expect(imageType(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]))).toBe('image/jpeg');
    expect(imageType(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]))).toBe('image/png');
    expect(imageType(Uint8Array.from([0xff, 0xd8]))).toBe('image/png'); // too short to tell
  });
});
