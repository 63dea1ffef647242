import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { imageBytesFromString } from '../../src/server/schemas.js';
import { sharedImage } from '../helpers/shared-dir.js';

const LIMIT = 20 * 1024 * 1024;
const decode = (value: string) => imageBytesFromString(value, LIMIT);
const rejects = (value: string, code: string) => assert.throws(() => decode(value), (e: { code?: string }) => e.code === code, JSON.stringify(value.slice(0, 40)));

describe('image fields in JSON: base64 and data URLs', () => {
  it('decodes a photo however the client wrapped it: padded, unpadded, url-safe, line-wrapped, data URL', async () => {
    const photo = await readFile(sharedImage('rocket.jpg'));
    const padded = photo.toString('base64');
    const forms = {
      padded,
      unpadded: padded.replace(/=+$/, ''),
      urlSafe: photo.toString('base64url'),
      mimeLines: padded.replace(/.{76}/g, '$&\r\n'),
      dataUrl: `data:image/jpeg;base64,${padded}`,
    };
    for (const [name, value] of Object.entries(forms)) assert.deepEqual(Buffer.from(decode(value)), photo, name);
  });

  it('refuses what is not base64, also when its length is a multiple of 4', () => {
    for (const value of ['AAAA!!!!', 'AAA!', 'AA=A', '====', 'A===', 'AAAA====AAAA', 'not base64!!', 'AAAAé===']) rejects(value, 'invalid_image');
  });

  it('refuses an image over the byte limit before decoding it', () => {
    assert.throws(() => imageBytesFromString('A'.repeat(4000), 1000), (e: { code?: string }) => e.code === 'payload_too_large');
  });
});
