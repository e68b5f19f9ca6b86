import test from 'ava';
import { ChannelList } from '../kernel/channel-list.js';

test('a session channel list behaves as a set through one, two and many channels', (t) => {
  const list = new ChannelList();
  const model = new Set<string>();
  const ops: Array<[op: 'add' | 'delete', name: string]> = [
    ['add', '#a'], ['add', '#a'], ['delete', '#b'], ['add', '#b'], ['add', '#c'], ['delete', '#a'],
    ['delete', '#c'], ['delete', '#c'], ['add', '#d'], ['delete', '#b'], ['delete', '#d'], ['add', '#e'],
  ];
  for (const [op, name] of ops) {
    if (op === 'add') {
      list.add(name);
      model.add(name);
    } else t.is(list.delete(name), model.delete(name), `${op} ${name}`);
    t.is(list.size, model.size);
    t.deepEqual([...list].sort(), [...model].sort());
    for (const probe of ['#a', '#b', '#c', '#d', '#e']) t.is(list.has(probe), model.has(probe));
  }
  const seen: string[] = [];
  list.forEach((name) => {
    seen.push(name);
    list.delete(name); // iterating a snapshot: deleting while walking is safe
  });
  t.deepEqual(seen, ['#e']);
  t.is(list.size, 0);
});
