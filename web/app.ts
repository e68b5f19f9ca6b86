/**
 * The relay's page: public channels with member counts, a channel's history and live
 * messages with signatures checked here, presence, posting as an ephemeral agent or as
 * an identity kept in this browser, and the relay panel. It is a plain agentchat client
 * (agentchat/browser) on this page's own origin: it reconnects after a relay restart and
 * re-joins from the last msg_id it saw, so nothing is missed and nothing shown twice.
 */
import {
  AgentChatClient, checkMsgSignature, forgetIdentity, generateIdentity, identityFileText, identityFromText, loadIdentity, saveIdentity,
  type BrowserIdentity, type MsgFrame, type WhoisFrame,
} from '../client/browser/index.js';
import { appendScrolled, byId, el } from './dom.js';
import { startStats } from './stats.js';
import { ChannelLog, markSignature } from './view.js';

const ui = {
  relayName: byId('relay-name', HTMLElement),
  status: byId('status', HTMLElement),
  channels: byId('channels', HTMLUListElement),
  title: byId('channel-title', HTMLElement),
  members: byId('members', HTMLUListElement),
  log: byId('log', HTMLDivElement),
  composer: byId('composer', HTMLFormElement),
  message: byId('message', HTMLInputElement),
  send: byId('send', HTMLButtonElement),
  error: byId('error', HTMLElement),
  me: byId('me', HTMLElement),
  postAs: byId('post-as', HTMLSelectElement),
  name: byId('name', HTMLInputElement),
  identityLabel: byId('identity-label', HTMLElement),
  generate: byId('identity-generate', HTMLButtonElement),
  importFile: byId('identity-import', HTMLInputElement),
  exportFile: byId('identity-export', HTMLButtonElement),
  forget: byId('identity-forget', HTMLButtonElement),
};

// Same origin as the page: ws:// beside http://, wss:// beside https://.
const server = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
const CHANNEL_REFRESH_MS = 5000;

let client: AgentChatClient | null = null;
let identity: BrowserIdentity | null = null;
let current: string | null = null;
const logs = new Map<string, ChannelLog>();
const members = new Set<string>();
const names = new Map<string, string>();
/** WHOIS answers by agent id; a failed one is forgotten so a later message asks again. */
const whoisCache = new Map<string, Promise<WhoisFrame | null>>();

function showError(err: unknown): void {
  ui.error.textContent = err instanceof Error ? err.message : String(err);
}

function setStatus(state: 'connecting' | 'connected' | 'reconnecting' | 'disconnected', text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function whois(agentId: string): Promise<WhoisFrame | null> {
  let answer = whoisCache.get(agentId);
  if (answer === undefined) {
    const asking = client;
    answer = asking === null ? Promise.resolve(null) : asking.whois(agentId).catch(() => {
      whoisCache.delete(agentId);
      return null;
    });
    whoisCache.set(agentId, answer);
  }
  return answer;
}

function displayName(agentId: string): string | undefined {
  return names.get(agentId);
}

function renderMembers(): void {
  ui.members.replaceChildren(...[...members].map((id) => {
    const name = displayName(id);
    return el('li', { text: name === undefined ? id : `${name} ${id}`, attrs: { 'data-agent': id } });
  }));
}

function logOf(channel: string): ChannelLog {
  let log = logs.get(channel);
  if (log === undefined) logs.set(channel, (log = new ChannelLog(channel)));
  return log;
}

function showMessage(frame: MsgFrame): void {
  if (!frame.to.startsWith('#')) return;
  const log = logOf(frame.to);
  const shown = log.message(frame, displayName(frame.from));
  if (shown === null) return;
  appendScrolled(ui.log, log.list, shown.line);
  void whois(frame.from).then((who) => {
    if (who !== null) {
      names.set(frame.from, who.name);
      shown.name.textContent = who.name;
    }
    if (frame.sig === undefined) return;
    markSignature(shown.mark, shown.line, who?.pubkey == null ? 'unknown' : checkMsgSignature(frame, who.pubkey).ok ? 'yes' : 'no');
  });
}

function showPresence(channel: string, agents: readonly string[], name: string | undefined, joined: boolean, ts: number): void {
  for (const id of agents) {
    if (name !== undefined && agents.length === 1) names.set(id, name);
    if (channel === current) {
      if (joined) members.add(id);
      else members.delete(id);
    }
    const who = displayName(id);
    const log = logOf(channel);
    appendScrolled(ui.log, log.list, log.presence(`${who === undefined ? id : `${who} (${id})`} ${joined ? 'joined' : 'left'}`, ts));
  }
  if (channel === current) renderMembers();
  refreshChannelsSoon();
}

let refreshSoon: ReturnType<typeof setTimeout> | null = null;
/** Member counts change with presence: refresh once a burst of joins and leaves is over. */
function refreshChannelsSoon(): void {
  if (refreshSoon !== null) return;
  refreshSoon = setTimeout(() => {
    refreshSoon = null;
    void refreshChannels().catch(() => undefined);
  }, 300);
}

async function refreshChannels(): Promise<void> {
  if (client === null || !client.connected) return;
  const { list } = await client.listChannels();
  ui.channels.replaceChildren(...list.map((channel) => {
    const button = el('button', { attrs: { type: 'button' } },
      el('span', { class: 'name', text: channel.name }),
      el('span', { class: 'count', text: String(channel.agents) }));
    button.addEventListener('click', () => void openChannel(channel.name).catch(showError));
    return el('li', { attrs: { 'data-channel': channel.name, 'aria-current': String(channel.name === current) } }, button);
  }));
}

async function openChannel(channel: string): Promise<void> {
  const c = client;
  if (c === null) return;
  ui.error.textContent = '';
  if (current !== null && current !== channel && c.channels.has(current)) await c.leave(current).catch(() => undefined);
  current = channel;
  const log = logOf(channel);
  ui.title.textContent = channel;
  ui.log.replaceChildren(log.list);
  // From where this page left off in that channel: what came since is replayed, nothing twice.
  const since = c.cursor(channel);
  const joined = await c.join(channel, since === undefined ? {} : { since });
  members.clear();
  for (const id of joined.agents) members.add(id);
  renderMembers();
  ui.message.disabled = ui.send.disabled = false;
  ui.message.placeholder = `message ${channel}`;
  ui.log.scrollTop = ui.log.scrollHeight;
  await refreshChannels();
}

function wire(c: AgentChatClient): void {
  c.on('message', (frame) => {
    if (c === client) showMessage(frame);
  });
  c.on('agent_joined', (frame) => showPresence(frame.channel, agentsOf(frame), frame.name, true, frame.ts));
  c.on('agent_left', (frame) => showPresence(frame.channel, agentsOf(frame), frame.name, false, frame.ts));
  c.on('disconnect', (info) => {
    if (c !== client) return;
    setStatus(info.willReconnect ? 'reconnecting' : 'disconnected', info.willReconnect ? 'reconnecting…' : `disconnected (${info.code})`);
  });
  c.on('reconnect', () => {
    if (c === client) setStatus('connected', `connected as ${c.name} ${c.agentId ?? ''}`);
  });
  c.on('rejoined', () => void refreshChannels().catch(showError));
  c.on('server_error', (frame) => {
    if (c === client) showError(`${frame.code}: ${frame.message}`);
  });
}

/** Batched presence names every agent in `agents`; a single change only in `agent`. */
function agentsOf(frame: { agent: string; agents?: unknown }): string[] {
  return Array.isArray(frame.agents) ? frame.agents.filter((a): a is string => typeof a === 'string') : [frame.agent];
}

/** (Re)connect as the agent the identity panel says, and go back to the channel that was open. */
async function connect(): Promise<void> {
  const previous = client;
  client = null;
  if (previous !== null) await previous.disconnect();
  const useIdentity = ui.postAs.value === 'identity' && identity !== null;
  const name = ui.name.value.trim() || undefined;
  const c = new AgentChatClient({
    server,
    name: useIdentity ? identity?.name : name,
    identity: useIdentity && identity !== null ? identity : undefined,
    reconnect: { initialMs: 250, maxMs: 5000 },
    // Where the previous connection left off, so switching agents shows nothing twice.
    cursors: previous === null ? {} : Object.fromEntries([...logs.keys()].flatMap((ch) => {
      const id = previous.cursor(ch);
      return id === undefined ? [] : [[ch, id]];
    })),
  });
  client = c;
  wire(c);
  whoisCache.clear();
  setStatus('connecting', 'connecting…');
  const welcome = await c.connect();
  names.set(welcome.agent_id, c.name);
  setStatus('connected', `connected as ${c.name} ${welcome.agent_id}`);
  ui.me.textContent = `${c.name} ${welcome.agent_id}${useIdentity ? (welcome.verified === true ? ' (key proven)' : '') : ' (ephemeral)'}`;
  await refreshChannels();
  if (current !== null) await openChannel(current);
}

function renderIdentity(): void {
  const option = ui.postAs.querySelector<HTMLOptionElement>('option[value="identity"]');
  if (option !== null) option.disabled = identity === null;
  if (identity === null) ui.postAs.value = 'ephemeral';
  ui.identityLabel.textContent = identity === null ? 'no identity in this browser' : `identity: ${identity.name} ${identity.agentId}`;
  ui.exportFile.disabled = ui.forget.disabled = identity === null;
}

async function useIdentity(next: BrowserIdentity): Promise<void> {
  await saveIdentity(next);
  identity = next;
  renderIdentity();
  ui.postAs.value = 'identity';
  await connect();
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.message.value;
  if (client === null || current === null || text === '') return;
  ui.error.textContent = '';
  client.send(current, text).then(() => {
    if (ui.message.value === text) ui.message.value = '';
  }, showError);
});
ui.postAs.addEventListener('change', () => void connect().catch(showError));
ui.name.addEventListener('change', () => {
  if (ui.postAs.value === 'ephemeral') void connect().catch(showError);
});
ui.generate.addEventListener('click', () => {
  try {
    void useIdentity(generateIdentity(ui.name.value.trim() || `web-${Math.random().toString(36).slice(2, 8)}`)).catch(showError);
  } catch (err) {
    showError(err);
  }
});
ui.importFile.addEventListener('change', () => {
  const file = ui.importFile.files?.[0];
  if (file === undefined) return;
  file.text().then((text) => useIdentity(identityFromText(text))).catch(showError).finally(() => (ui.importFile.value = ''));
});
ui.exportFile.addEventListener('click', () => {
  if (identity === null) return;
  const url = URL.createObjectURL(new Blob([identityFileText(identity)], { type: 'application/json' }));
  el('a', { attrs: { href: url, download: 'identity.json' } }).click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
});
ui.forget.addEventListener('click', () => {
  if (identity === null || !confirm(`Forget ${identity.name} ${identity.agentId}? Without an exported identity.json its agent id is lost.`)) return;
  forgetIdentity().then(() => {
    identity = null;
    renderIdentity();
    return connect();
  }).catch(showError);
});

async function start(): Promise<void> {
  ui.name.value = `web-${Math.random().toString(36).slice(2, 6)}`;
  startStats();
  setInterval(() => void refreshChannels().catch(() => undefined), CHANNEL_REFRESH_MS);
  fetch('/', { headers: { accept: 'application/json' } })
    .then((r) => r.json() as Promise<{ name?: unknown }>)
    .then((info) => (ui.relayName.textContent = typeof info.name === 'string' ? `relay ${info.name}` : ''))
    .catch(() => undefined);
  identity = await loadIdentity().catch((err: unknown) => {
    showError(`the identity kept in this browser is unreadable: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  });
  renderIdentity();
  if (identity !== null) ui.postAs.value = 'identity';
  await connect();
  await openChannel('#general');
}

start().catch((err: unknown) => {
  setStatus('disconnected', 'not connected');
  showError(err);
});
