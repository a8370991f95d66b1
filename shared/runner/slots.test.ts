import { expect, test } from 'vitest';
import { slotSizesFor } from './slots.js';

test('normal MTUs keep the 2048-byte slots; larger ones get a full packet (UDP: + 32 overhead + 16 padding)', () => {
  expect(slotSizesFor(1280)).toEqual({ tun: 2048, udp: 2048 });
  expect(slotSizesFor(1420)).toEqual({ tun: 2048, udp: 2048 });
  expect(slotSizesFor(2000)).toEqual({ tun: 2048, udp: 2048 });
  expect(slotSizesFor(2001)).toEqual({ tun: 2048, udp: 2049 });
  expect(slotSizesFor(8920)).toEqual({ tun: 8920, udp: 8968 });
  expect(slotSizesFor(9000)).toEqual({ tun: 9000, udp: 9048 });
  expect(slotSizesFor(65535)).toEqual({ tun: 65535, udp: 65536 }); // the addon's largest slot
  expect(() => slotSizesFor(0)).toThrow(RangeError);
});
