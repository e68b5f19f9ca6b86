import WebSocket from 'ws';
const [url, nStr, prefix] = process.argv.slice(2);
const n = Number(nStr);
const socks: WebSocket[] = [];
let done = 0;
async function one(i: number) {
  return new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url);
    socks.push(ws);
    const ch = `#${prefix}g${Math.floor(i / 10)}`;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'IDENTIFY', name: `${prefix}${i}` })));
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      if (m.type === 'WELCOME') ws.send(JSON.stringify(i % 10 === 0 ? { type: 'CREATE_CHANNEL', channel: ch } : { type: 'JOIN', channel: ch }));
      else if (m.type === 'JOINED') { done++; resolve(); }
      else if (m.type === 'ERROR' && m.code === 'CHANNEL_NOT_FOUND') setTimeout(() => ws.send(JSON.stringify({ type: 'JOIN', channel: ch })), 50);
      else if (m.type === 'ERROR') reject(new Error(JSON.stringify(m)));
    });
    ws.on('error', reject);
  });
}
for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => one(i + k)));
console.log('connected', done);
setInterval(() => {}, 1000);
