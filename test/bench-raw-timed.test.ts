/**
 * The raw-TCP bench generator reads a delivery's sender, sequence and send time from its content's
 * digits, without JSON: the fields must come out of any relay's MSG layout, and anything else is no delivery.
 */
import test from 'ava';
import { readTimed } from '../bench/generator/raw.js';

const fields = (text: string): number[] | null => {
  const into = new Float64Array(4);
  const payload = Buffer.from(`{"junk":1}${text}{"junk":2}`);
  return readTimed(payload, 10, payload.length - 10, into) ? [...into] : null;
};

test('readTimed takes run, sender, sequence and send time from a B content wherever the relay put it', (t) => {
  const content = 'B|41|3|1207|123456789012345|xxxx';
  t.deepEqual(fields(`{"type":"MSG","from":"@a","to":"#c","content":"${content}","msg_id":9,"ts":1}`), [41, 3, 1207, 123456789012345]);
  t.deepEqual(fields(`{"to":"#c","content":"${content}","type":"MSG"}`), [41, 3, 1207, 123456789012345]);
});

test('readTimed finds no delivery in other frames, in a truncated content, or past the frame it is given', (t) => {
  t.is(fields('{"type":"AGENT_JOINED","channel":"#c","agent":"@a"}'), null);
  t.is(fields('{"type":"MSG","content":"B|41|3|12'), null, 'truncated before the send time');
  t.is(fields('{"type":"MSG","content":"B|41|x|1|2|"}'), null, 'a field that is not digits');
  // The content of the next frame in the same chunk is not this frame's.
  const chunk = Buffer.from('{"type":"JOINED"}{"type":"MSG","content":"B|1|0|0|5|"}');
  t.false(readTimed(chunk, 0, 17, new Float64Array(4)));
});
